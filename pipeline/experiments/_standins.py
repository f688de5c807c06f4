"""STAND-INS, to delete once issue 10's parts are on main: minimal local versions of the promotion
gate (:mod:`pipeline.models.promotion`), the retrain trigger (:mod:`pipeline.monitoring.trigger`'s
``TriggerEvidence`` / new ``decide_retrain``) and CBPE (:mod:`pipeline.monitoring.estimate`), with the
signatures of the issue's shared contract. :func:`contract` returns the real functions where they
exist and these otherwise, and says which it used, so the study records it in ``results.json``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def contract() -> tuple[dict[str, Any], list[str]]:
    """The contract's callables by name (``decide_promotion``, ``TriggerEvidence``, ``decide_retrain``,
    ``fit_calibrator``, ``estimate_performance``), and the names served by a stand-in."""
    wanted = {
        "pipeline.models.promotion": ["decide_promotion"],
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
class _GateDecision:
    promote: bool
    reason: str
    comparisons: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"promote": self.promote, "reason": self.reason, "comparisons": self.comparisons}


def _decide_promotion(promotion_cfg, task, y_true, challenger, champion, *, seed=0) -> _GateDecision:
    """Stand-in gate. ``improvement``: the old rule (:func:`promotion_decision`). ``noninferiority``:
    promote unless the upper bound of the 95% paired-bootstrap interval (200 resamples) of
    challenger minus champion ROC AUC is below -0.005 (no guardrails)."""
    from scipy.stats import rankdata

    from pipeline.models.evaluate import promotion_decision

    def roc_auc_score(y, s):  # Mann-Whitney U / (n1 n0), ties averaged: sklearn's value, faster
        n1 = y.sum()
        return (rankdata(s)[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * (y.size - n1))

    y, a, b = np.asarray(y_true), np.asarray(challenger), np.asarray(champion)
    chall, champ = roc_auc_score(y, a), roc_auc_score(y, b)
    if getattr(promotion_cfg, "rule", "noninferiority") == "improvement":
        verdict, reason = promotion_decision("roc_auc", chall, champ, promotion_cfg.min_improvement)
        return _GateDecision(verdict == "promoted", reason, [{"metric": "roc_auc", "difference": chall - champ}])
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(200):
        i = rng.integers(0, len(y), len(y))
        if y[i].min() != y[i].max():
            diffs.append(roc_auc_score(y[i], a[i]) - roc_auc_score(y[i], b[i]))
    low, high = np.quantile(diffs, [0.025, 0.975])
    promote = high >= -0.005
    reason = f"roc_auc difference {chall - champ:+.4f}, 95% CI [{low:+.4f}, {high:+.4f}] vs tolerance -0.005"
    return _GateDecision(
        bool(promote), reason, [{"metric": "roc_auc", "difference": chall - champ, "low": low, "high": high}]
    )


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
