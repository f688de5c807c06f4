"""STAND-INS, to delete once issue 10's parts are on main: minimal local versions of the retrain trigger
(:mod:`pipeline.monitoring.trigger`'s ``TriggerEvidence`` / new ``decide_retrain``) and CBPE
(:mod:`pipeline.monitoring.estimate`), with the signatures of the issue's shared contract. :func:`contract`
returns the real functions where they exist and these otherwise, and says which it used, so the study
records it in ``results.json``."""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def contract() -> tuple[dict[str, Any], list[str]]:
    """The contract's callables by name (``TriggerEvidence``, ``decide_retrain``, ``fit_calibrator``,
    ``estimate_performance``), and the names served by a stand-in."""
    wanted = {
        "pipeline.monitoring.trigger": ["TriggerEvidence", "decide_retrain"],
        "pipeline.monitoring.estimate": ["fit_calibrator", "estimate_performance"],
    }
    found, standins = {}, []
    for module_name, names in wanted.items():
        try:
            module = importlib.import_module(module_name)
            found |= {name: getattr(module, name) for name in names}
        except (ImportError, AttributeError):
            standins += names
            found |= {name: globals()[f"_{name}"] for name in names}
    if standins:
        log.warning("study: stand-ins used for %s (not on this branch yet)", ", ".join(standins))
    return found, standins


@dataclass(frozen=True)
class _TriggerEvidence:
    metric: str
    realized: float | None
    labelled_rows: int
    champion_holdout: float
    champion_cutoff: dt.datetime
    feature_drift: Any = None
    prediction_drift: Any = None
    features: Any = None


@dataclass(frozen=True)
class _TriggerDecision:
    retrain: bool
    reasons: list[str] = field(default_factory=list)
    suppressed: bool = False
    evidence: dict = field(default_factory=dict)


def _decide_retrain(evidence, cfg, last_trigger, now) -> _TriggerDecision:
    """Stand-in trigger with the contract's default rule (7-day window, 500 rows, margin 0.02, 28 days)."""
    trigger = getattr(cfg, "trigger", None)
    min_rows = getattr(trigger, "min_labelled_rows", 500)
    margin = getattr(trigger, "margin", 0.02)
    max_age = getattr(trigger, "max_age_days", 28)
    reasons = []
    if evidence.realized is not None and evidence.labelled_rows >= min_rows:
        if evidence.realized < evidence.champion_holdout - margin:
            reasons.append(
                f"realized {evidence.metric} {evidence.realized:.4f} < champion holdout "
                f"{evidence.champion_holdout:.4f} - {margin}"
            )
    if max_age is not None and now - evidence.champion_cutoff > dt.timedelta(days=max_age):
        reasons.append(f"champion older than {max_age} days")
    if not reasons:
        return _TriggerDecision(False)
    if last_trigger is not None and now - last_trigger < dt.timedelta(days=cfg.cooldown_days):
        return _TriggerDecision(False, reasons, suppressed=True)
    return _TriggerDecision(True, reasons)


def _fit_calibrator(holdout_scores, holdout_labels):
    """Stand-in: isotonic regression of the labels on the scores."""
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(holdout_scores, holdout_labels)


def _estimate_performance(scores, calibrator=None, threshold=0.5) -> dict:
    """Stand-in CBPE (Kivimäki et al. / NannyML): expected ROC AUC with each row positive with its
    calibrated probability p: the ROC curve of expected TP and FP counts at every score threshold."""
    s = np.asarray(scores, dtype="float64")
    p = calibrator.predict(s) if calibrator is not None else s
    order = np.argsort(-s, kind="stable")
    s, p = s[order], p[order]
    last = np.r_[s[1:] != s[:-1], True]  # one ROC point per distinct score
    tp, fp = np.cumsum(p)[last], np.cumsum(1 - p)[last]
    auc = np.trapezoid(np.r_[0, tp / tp[-1]], np.r_[0, fp / fp[-1]]) if tp[-1] > 0 and fp[-1] > 0 else np.nan
    return {
        "roc_auc": float(auc),
        "brier": float(np.mean(p * (1 - s) ** 2 + (1 - p) * s**2)),
        "positive_rate": float(p.mean()),
        "rows": int(s.size),
    }
