"""When monitoring asks for a retrain: thresholds on drift and realized performance, and a cooldown.

Drift counts only where :mod:`pipeline.monitoring.drift` flagged it, that is above the sample-size aware
effective threshold (the configured threshold, or the statistic's critical value at the window's size
where that is higher; never on windows below ``monitoring.min_rows``), so a small window needs a larger
shift to ask for a retrain."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from pipeline.config import MonitoringConfig
from pipeline.metrics import TRIGGER_DRIFT_METRIC
from pipeline.monitoring.drift import drifted_features


@dataclass(frozen=True)
class TriggerDecision:
    """``retrain``: ask for a retrain now. ``reasons``: every threshold crossed (even when the cooldown
    suppresses the retrain). ``suppressed``: thresholds were crossed but a retrain was requested less
    than ``cooldown_days`` ago."""

    retrain: bool
    reasons: list[str] = field(default_factory=list)
    suppressed: bool = False


def decide_retrain(
    feature_drift: pd.DataFrame,
    prediction_drift: pd.DataFrame,
    realized_roc_auc: float | None,
    cfg: MonitoringConfig,
    features: list[str],
    last_trigger: dt.datetime | None,
    now: dt.datetime,
) -> TriggerDecision:
    """Apply the configured retrain triggers to one monitoring window.

    Args:
        feature_drift: output of :func:`pipeline.monitoring.drift.feature_drift`.
        prediction_drift: output of :func:`pipeline.monitoring.drift.prediction_drift`.
        realized_roc_auc: the champion's ROC AUC on the window's labelled predictions, or None when
            no labels have arrived (or the window has a single class).
        cfg: the ``monitoring`` config section.
        features: the features that vote (``monitoring.features`` or every feature).
        last_trigger: logical time of the last requested retrain, or None.
        now: logical time of this decision (the monitor run's data interval end).

    Returns:
        The decision. A retrain is requested when at least ``trigger_feature_share`` of ``features``
        drift by PSI (``drifted``), or the score drifted by PSI (its ``drifted`` flag) with a PSI above
        ``trigger_prediction_psi`` too, or the realized ROC AUC is below ``trigger_min_roc_auc``; unless
        the last request is less than ``cooldown_days`` old.

    Raises:
        KeyError: a drift frame lacks the columns ``feature``, ``metric``, ``value``, ``threshold`` or
            ``drifted``.
    """
    reasons = []
    drifted = drifted_features(feature_drift, features)
    if features and len(drifted) / len(features) >= cfg.trigger_feature_share:
        reasons.append(
            f"feature drift: {len(drifted)} of {len(features)} features above their PSI threshold "
            f"({', '.join(drifted)})"
        )
    score = prediction_drift[prediction_drift["metric"] == TRIGGER_DRIFT_METRIC]
    if len(score) and bool(score["drifted"].iloc[0]) and float(score["value"].iloc[0]) > cfg.trigger_prediction_psi:
        limit = max(float(score["threshold"].iloc[0]), cfg.trigger_prediction_psi)
        reasons.append(f"prediction drift: score PSI {float(score['value'].iloc[0]):.3f} > {limit:.3g}")
    if (
        cfg.trigger_min_roc_auc is not None
        and realized_roc_auc is not None
        and not pd.isna(realized_roc_auc)
        and realized_roc_auc < cfg.trigger_min_roc_auc
    ):
        reasons.append(f"realized ROC AUC {realized_roc_auc:.3f} < {cfg.trigger_min_roc_auc}")
    if not reasons:
        return TriggerDecision(False)
    if last_trigger is not None and now - last_trigger < dt.timedelta(days=cfg.cooldown_days):
        return TriggerDecision(False, reasons, suppressed=True)
    return TriggerDecision(True, reasons)
