"""When monitoring asks for a retrain: the champion's realized performance against its own holdout, its
age, optionally drift, and a cooldown. Pure: no I/O; the ``monitor`` stage and the retraining study
call :func:`decide_retrain` with the same evidence.

The default rule (``monitoring.trigger``) comes from the replay of March to December 2013 (``make study``): the
absolute rule (realized ROC AUC under 0.65, feature-PSI votes) retrained 11 times and did worse than
plain monthly retraining; a rule relative to the champion's own holdout value came within 0.0013 of
weekly retraining's ROC AUC with under half of its retrains in sample, and out of sample it tied a
calendar of the same number of retrains (``docs/study.md``):

- **performance**: at least ``min_labelled_rows`` labelled champion predictions over the last
  ``performance_window_days``, and their realized metric worse than the champion's holdout value of
  the same metric by more than ``margin`` (``realized < holdout - margin`` when higher is better,
  ``realized > holdout + margin`` when lower is better, as :data:`pipeline.metrics.METRICS` says);
- **age**: the champion's holdout ended more than ``max_age_days`` before the decision.

That replay also chose the margin and the maximum age, so the study checks the rule out of sample too
(``docs/study.md``, "Out of sample"): parameters chosen on March to July, reported on August to December,
next to a margin without a parameter, :func:`bootstrap_margin` (the champion's holdout resampled at the
realized window's size), and calendars of equal cost.

Drift is measured and recorded either way; it asks for a retrain only when switched on
(``trigger.feature_drift``, ``trigger.prediction_drift``). Drift counts only where
:mod:`pipeline.monitoring.drift` flagged it, above the sample-size aware effective threshold (never on
windows below ``monitoring.min_rows``), so a small window needs a larger shift.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from numpy.typing import ArrayLike

from pipeline.config import MonitoringConfig
from pipeline.metrics import TRIGGER_DRIFT_METRIC, get_metric
from pipeline.monitoring.drift import drifted_features


@dataclass(frozen=True)
class TriggerEvidence:
    """What one retrain decision rests on.

    - ``metric``: the metric compared (the model's promotion metric: ``roc_auc``, ``rmse``, ...);
    - ``realized``: the champion's realized value of it over the last
      ``monitoring.trigger.performance_window_days`` of labelled predictions (labels known by the
      decision's cutoff); None when there is none or it is undefined (ROC AUC on one class);
    - ``labelled_rows``: how many labelled champion predictions ``realized`` pools;
    - ``champion_holdout``: the champion's own holdout value of ``metric``
      (``ml.model_versions.metrics``); None when the registry lacks it (no performance trigger then);
    - ``champion_cutoff``: the champion's holdout end (tz-aware): its data's age is counted from it;
    - ``feature_drift``, ``prediction_drift``: :func:`pipeline.monitoring.drift.feature_drift` and
      :func:`~pipeline.monitoring.drift.prediction_drift` frames of the drift window, or None when not
      measured; ``features``: the features whose drift votes (``PipelineConfig.voting_features``).
    """

    metric: str
    realized: float | None
    labelled_rows: int
    champion_holdout: float | None
    champion_cutoff: dt.datetime
    feature_drift: pd.DataFrame | None = None
    prediction_drift: pd.DataFrame | None = None
    features: Sequence[str] = ()


@dataclass(frozen=True)
class TriggerDecision:
    """``retrain``: ask for a retrain now. ``reasons``: every trigger that fired (even when the cooldown
    suppresses the retrain). ``suppressed``: a trigger fired but a retrain was requested less than
    ``cooldown_days`` ago. ``evidence``: JSON-able inputs and thresholds of every rule, switched on or
    not (stored in ``ml.retrain_triggers.evidence``)."""

    retrain: bool
    reasons: list[str] = field(default_factory=list)
    suppressed: bool = False
    evidence: dict[str, Any] = field(default_factory=dict)


def decide_retrain(
    evidence: TriggerEvidence, cfg: MonitoringConfig, last_trigger: dt.datetime | None, now: dt.datetime
) -> TriggerDecision:
    """Apply ``cfg.trigger``'s rules to one monitor run's evidence.

    Args:
        evidence: the measurements (:class:`TriggerEvidence`).
        cfg: the ``monitoring`` config section: ``trigger`` (rules and thresholds),
            ``trigger_feature_share``, ``trigger_prediction_psi`` and ``cooldown_days``.
        last_trigger: logical time of the last requested retrain, or None.
        now: logical time of this decision (the monitor run's cutoff, its data interval end), tz-aware.

    Returns:
        The decision. Reasons, in this order, each only when its rule fires:

        - ``performance``: ``labelled_rows >= min_labelled_rows`` and ``realized`` worse than
          ``champion_holdout`` by more than ``margin`` (direction from the metric's registry entry);
        - ``age``: ``now - champion_cutoff > max_age_days`` days;
        - ``feature drift`` (when ``trigger.feature_drift``): at least ``trigger_feature_share`` of
          ``features`` drifted by PSI;
        - ``prediction drift`` (when ``trigger.prediction_drift``): the score drifted by PSI (its
          sample-size aware threshold) with a PSI above ``trigger_prediction_psi`` too.

        A retrain is asked for when a reason exists and the last request is at least
        ``cooldown_days`` old. ``evidence`` holds every rule's inputs, thresholds and outcome.

    Raises:
        ValueError: an unknown metric.
        KeyError: a drift frame lacks the columns ``feature``, ``metric``, ``value``, ``threshold`` or
            ``drifted``.
    """
    rule = cfg.trigger
    higher_is_better = get_metric(evidence.metric).higher_is_better
    reasons: list[str] = []

    realized, holdout = _number(evidence.realized), _number(evidence.champion_holdout)
    limit = None if holdout is None else holdout - rule.margin if higher_is_better else holdout + rule.margin
    enough = evidence.labelled_rows >= rule.min_labelled_rows
    worse = (
        enough
        and realized is not None
        and limit is not None
        and (realized < limit if higher_is_better else realized > limit)
    )
    if worse:
        sign = "<" if higher_is_better else ">"
        reasons.append(
            f"performance: realized {evidence.metric} {realized:.4f} over the last {rule.performance_window_days} "
            f"days ({evidence.labelled_rows} labelled rows) {sign} champion holdout {holdout:.4f} "
            f"{'-' if higher_is_better else '+'} margin {rule.margin:g} = {limit:.4f}"
        )

    # total_seconds: Airflow hands pendulum datetimes, whose difference does not divide by a timedelta.
    age_days = (now - evidence.champion_cutoff).total_seconds() / 86_400
    old = rule.max_age_days is not None and age_days > rule.max_age_days
    if old:
        reasons.append(f"age: champion's holdout ended {age_days:.1f} days ago > max age {rule.max_age_days:g} days")

    drifted = [] if evidence.feature_drift is None else drifted_features(evidence.feature_drift, evidence.features)
    share = len(drifted) / len(evidence.features) if evidence.features else 0.0
    features_crossed = bool(evidence.features) and share >= cfg.trigger_feature_share
    if rule.feature_drift and features_crossed:
        reasons.append(
            f"feature drift: {len(drifted)} of {len(evidence.features)} features above their PSI threshold "
            f"({', '.join(drifted)})"
        )

    score_psi, score_limit, score_crossed = None, None, False
    frame = evidence.prediction_drift
    score = None if frame is None else frame[frame["metric"] == TRIGGER_DRIFT_METRIC]
    if score is not None and len(score):
        score_psi = float(score["value"].iloc[0])
        score_limit = max(_number(float(score["threshold"].iloc[0])) or 0.0, cfg.trigger_prediction_psi)
        score_crossed = bool(score["drifted"].iloc[0]) and score_psi > cfg.trigger_prediction_psi
    if rule.prediction_drift and score_crossed:
        reasons.append(f"prediction drift: score PSI {score_psi:.3f} > {score_limit:.3g}")

    cooling = last_trigger is not None and now - last_trigger < dt.timedelta(days=cfg.cooldown_days)
    record = {
        "metric": evidence.metric,
        "higher_is_better": higher_is_better,
        "performance": {
            "realized": realized,
            "labelled_rows": evidence.labelled_rows,
            "min_labelled_rows": rule.min_labelled_rows,
            "window_days": rule.performance_window_days,
            "champion_holdout": holdout,
            "margin": rule.margin,
            "limit": limit,
            "fired": bool(worse),
        },
        "age": {
            "champion_cutoff": evidence.champion_cutoff.isoformat(),
            "age_days": age_days,
            "max_age_days": rule.max_age_days,
            "fired": bool(old),
        },
        "feature_drift": {
            "enabled": rule.feature_drift,
            "drifted": drifted,
            "voting_features": len(evidence.features),
            "share": share,
            "trigger_share": cfg.trigger_feature_share,
            "crossed": features_crossed,
        },
        "prediction_drift": {
            "enabled": rule.prediction_drift,
            "score_psi": score_psi,
            "limit": score_limit,
            "crossed": score_crossed,
        },
        "cooldown": {
            "cooldown_days": cfg.cooldown_days,
            "last_trigger": None if last_trigger is None else last_trigger.isoformat(),
            "active": cooling,
        },
    }
    if not reasons:
        return TriggerDecision(False, evidence=record)
    if cooling:
        return TriggerDecision(False, reasons, suppressed=True, evidence=record)
    return TriggerDecision(True, reasons, evidence=record)


def bootstrap_margin(
    metric: str,
    y_holdout: ArrayLike,
    holdout_scores: ArrayLike,
    rows: int,
    confidence: float,
    resamples: int,
    seed: int = 0,
) -> float:
    """A performance margin without a parameter: how far the champion's ``metric`` on ``rows`` labelled
    predictions may fall short of its holdout value by sampling noise alone.

    The champion's holdout (its labels and its scores, the rows its holdout value was measured on) is
    resampled with replacement at the realized window's size: ``resamples`` resamples of ``rows`` draws
    each from its n rows (the m-out-of-n bootstrap, m = ``rows``: Bickel, Götze & van Zwet (1997),
    Statistica Sinica 7(1); drawn by :func:`pipeline.models.promotion.resample_counts` with
    ``np.random.default_rng(seed)``), and ``metric`` is computed on each
    (:func:`~pipeline.models.promotion.resampled_metric`; resamples where it is undefined are left
    out). The margin is the distance from the holdout value to the worse end of the percentile interval
    at ``confidence`` (Efron, B. & Tibshirani, R. J. (1993), *An Introduction to the Bootstrap*, ch. 13):
    ``holdout - percentile(50 (1 - confidence))`` when higher is better, ``percentile(50 (1 + confidence))
    - holdout`` when lower is better. ``realized < holdout - margin`` (:func:`decide_retrain`) then says:
    the realized value lies below the interval a window of this size drawn from the champion's own
    holdout would give.

    Args:
        metric: a registered metric with a resampled form (``roc_auc``, ``log_loss``, ``rmse``, ...).
        y_holdout: shape (n,), the champion's holdout labels; holdout_scores: shape (n,), its
            predictions on them.
        rows: the realized window's labelled rows (m), at least 1.
        confidence: the interval's level, in (0, 1) (``promotion.confidence``).
        resamples: bootstrap resamples (``promotion.bootstrap_samples``).
        seed: seeds the draws: the same inputs and seed give the same margin.

    Returns:
        The margin in the metric's units (ROC AUC units for the classifier); not clipped, so a negative
        value (only possible on a degenerate holdout) would make the rule stricter than ``holdout``.

    Raises:
        ValueError: ``rows`` < 1, ``confidence`` outside (0, 1), an unknown metric or one without a
            resampled form.
        EvaluationError: no resample defines the metric (a single class in the holdout).
    """
    import numpy as np

    from pipeline.models.evaluate import METRIC_FUNCTIONS, EvaluationError
    from pipeline.models.promotion import resample_counts, resampled_metric

    if rows < 1 or not 0 < confidence < 1:
        raise ValueError(f"rows must be at least 1 and confidence in (0, 1), got {rows} and {confidence}")
    higher_is_better = get_metric(metric).higher_is_better
    y = np.asarray(y_holdout, dtype="float64").reshape(-1)
    scores = np.asarray(holdout_scores, dtype="float64").reshape(-1)
    rng = np.random.default_rng(seed)
    values = np.concatenate(
        [resampled_metric(metric, y, scores, counts) for counts in resample_counts(rng, y.size, resamples, rows)]
    )
    values = values[np.isfinite(values)]
    if not values.size:
        raise EvaluationError(f"no resample of {rows} of the {y.size} holdout rows defines {metric}")
    holdout = float(METRIC_FUNCTIONS[metric](y, scores))
    if higher_is_better:
        return holdout - float(np.percentile(values, 50 * (1 - confidence)))
    return float(np.percentile(values, 50 * (1 + confidence))) - holdout


def _number(value: float | None) -> float | None:
    """``value`` as a float, or None when it is None or NaN."""
    return None if value is None or math.isnan(float(value)) else float(value)


def verdict(retrain: bool, suppressed: bool, record: dict[str, Any]) -> str:
    """One decision in one line, every rule with its numbers rounded, as the monitor logs it and the
    summary and the dashboard show it: for example ``no retrain: 378 labelled rows < 500 minimum;
    champion age 3.0 of 28 days``.

    Args:
        retrain, suppressed: the decision (:class:`TriggerDecision`).
        record: its ``evidence`` (:func:`decide_retrain`), as stored in ``ml.retrain_triggers.evidence``'s
            ``trigger`` key.
    """
    perf, age, metric = record["performance"], record["age"], record["metric"]
    better, worse = (">=", "<") if record["higher_is_better"] else ("<=", ">")
    if perf["labelled_rows"] < perf["min_labelled_rows"]:
        parts = [f"{perf['labelled_rows']} labelled rows < {perf['min_labelled_rows']} minimum"]
    elif perf["realized"] is None or perf["limit"] is None:
        parts = [f"realized {metric} undefined on {perf['labelled_rows']} labelled rows"]
    else:
        sign = worse if perf["fired"] else better
        parts = [
            f"realized {metric} {perf['realized']:.3f} {sign} limit {perf['limit']:.3f} "
            f"on {perf['labelled_rows']} labelled rows"
        ]
    limit = "no maximum" if age["max_age_days"] is None else f"{age['max_age_days']:g}"
    parts.append(f"champion age {age['age_days']:.1f} {'>' if age['fired'] else 'of'} {limit} days")
    drift = record["feature_drift"]
    if drift["enabled"]:
        parts.append(
            f"feature drift: {len(drift['drifted'])} of {drift['voting_features']} features drifted "
            f"(trigger at {drift['trigger_share']:.0%})"
        )
    score = record["prediction_drift"]
    if score["enabled"] and score["score_psi"] is not None:
        parts.append(
            f"prediction drift: score PSI {score['score_psi']:.3f} "
            f"{'>' if score['crossed'] else '<='} {score['limit']:.3g}"
        )
    head = "RETRAIN" if retrain else "suppressed by cooldown" if suppressed else "no retrain"
    if suppressed:
        cooldown = record["cooldown"]
        parts.append(f"last request {cooldown['last_trigger'][:10]}, cooldown {cooldown['cooldown_days']:g} days")
    return f"{head}: {'; '.join(parts)}"
