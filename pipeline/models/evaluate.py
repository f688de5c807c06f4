"""Holdout metrics of a binary classifier or a regressor, the constant baseline, the promotion rule,
and permutation importance.

Every metric is a scikit-learn function (:data:`METRIC_FUNCTIONS`), named and directed by
:data:`pipeline.metrics.METRICS`; monitoring computes realized metrics with the same functions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

from pipeline.errors import PermanentError
from pipeline.metrics import (
    AVERAGE_PRECISION,
    BINARY_CLASSIFICATION,
    BRIER,
    LOG_LOSS,
    MAE,
    R2,
    REGRESSION,
    RMSE,
    ROC_AUC,
    Task,
    default_promotion_metric,
    get_metric,
    holdout_metric_names,
)

# Metric name -> function of (y_true, prediction) -> float: the probability of class 1 against 0/1
# labels for classification, the predicted value against the label for regression.
METRIC_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    ROC_AUC: roc_auc_score,
    AVERAGE_PRECISION: average_precision_score,
    LOG_LOSS: lambda y, p: log_loss(y, p, labels=[0, 1]),
    BRIER: brier_score_loss,
    RMSE: root_mean_squared_error,
    MAE: mean_absolute_error,
    R2: r2_score,
}

# The scikit-learn scorer of each task's default metric, for permutation importance. Higher is better
# for a scorer, so RMSE is negated; a drop in the scorer is then a rise in RMSE, in the label's units.
_SCORERS = {ROC_AUC: "roc_auc", RMSE: "neg_root_mean_squared_error"}

# The key of the baseline's constant prediction in :func:`baseline_metrics`.
_BASELINE_KEY = {BINARY_CLASSIFICATION: "base_rate", REGRESSION: "baseline_mean"}


class EvaluationError(PermanentError, ValueError):
    """The holdout cannot score a model (empty, a single class, or a constant label)."""


def holdout_metrics(task: Task, y_true: ArrayLike, prediction: ArrayLike) -> dict[str, float]:
    """Every holdout metric of ``task`` (:func:`pipeline.metrics.holdout_metric_names`).

    Classification: ROC AUC, average precision, log loss (natural log) and Brier score
    (``sklearn.metrics.roc_auc_score``, ``average_precision_score``, ``log_loss``,
    ``brier_score_loss``). Regression: RMSE and MAE in the label's units (minutes for a delay in
    minutes) and R² (``root_mean_squared_error``, ``mean_absolute_error``, ``r2_score``).

    Args:
        task: ``"binary_classification"`` or ``"regression"``.
        y_true: shape (n,), labels: 0/1 for classification, real numbers for regression.
        prediction: shape (n,), float: the probability of class 1, or the predicted value.

    Returns:
        metric name -> float, in registry order, plus ``"rows"`` (int, n).

    Raises:
        EvaluationError: no rows, lengths differ, or every label is the same (a single class, or a
            constant regression label, where ROC AUC or R² is undefined).
        ValueError: an unknown task.
    """
    names = holdout_metric_names(task)
    y = _labels(task, y_true)
    p = np.asarray(prediction, dtype="float64")
    if y.shape != p.shape or y.size == 0:
        raise EvaluationError(f"the holdout has {y.size} labels and {p.size} predictions; it needs rows of both")
    if np.unique(y).size < 2:
        what = "a single class" if task == BINARY_CLASSIFICATION else "a constant label"
        raise EvaluationError(f"the holdout has {y.size} rows and {what}; widen training.holdout_days")
    return {name: float(METRIC_FUNCTIONS[name](y, p)) for name in names} | {"rows": int(y.size)}


def baseline_metrics(task: Task, y_train: ArrayLike, y_holdout: ArrayLike) -> dict[str, float]:
    """:func:`holdout_metrics` of a constant prediction: the mean of the training labels for every
    holdout row (the positive rate for classification, the mean label for regression).

    Returns:
        as :func:`holdout_metrics`, plus the constant: ``"base_rate"`` (classification) or
        ``"baseline_mean"`` (regression, in the label's units).
    """
    constant = float(np.mean(_labels(task, y_train)))
    y = np.asarray(y_holdout)
    return holdout_metrics(task, y, np.full(y.shape, constant)) | {_BASELINE_KEY[task]: constant}


def promotion_decision(
    metric: str,
    challenger: float,
    champion: float | None,
    min_improvement: float,
    force: bool = False,
    *,
    baseline: float | None = None,
    min_baseline_gain: float = 0.0,
) -> tuple[str, str]:
    """Decide whether the challenger replaces the champion.

    With a champion, the challenger is promoted when it beats the champion's score on the same holdout
    by more than 0 and at least ``min_improvement`` (in the metric's units) in the metric's direction
    (:attr:`pipeline.metrics.Metric.higher_is_better`: higher ROC AUC, average precision and R²; lower
    log loss, Brier score, RMSE and MAE). With none (``champion`` None: the first model, or a champion
    whose artifact cannot be loaded), it must beat the constant ``baseline``
    (:func:`baseline_metrics`: the training base rate or mean) in the same way, by more than 0 and at
    least ``min_baseline_gain``: a model no better than a constant never goes live by default.
    ``baseline`` None skips that check (promoted).

    Returns:
        ``(decision, reason)`` with decision ``"promoted"``, ``"rejected"`` or ``"forced"``; the reason
        quotes both scores, the gain and the margin required.

    Raises:
        ValueError: ``metric`` is not a registered metric.
    """
    higher_is_better = get_metric(metric).higher_is_better
    if force:
        return "forced", f"promotion forced; {metric} {challenger:.4f} vs champion {champion}"
    if champion is None and baseline is None:
        return "promoted", f"no champion yet; {metric} {challenger:.4f}"
    against, score, margin = (
        ("champion", champion, min_improvement) if champion is not None else ("baseline", baseline, min_baseline_gain)
    )
    gain = challenger - score if higher_is_better else score - challenger
    verdict = "promoted" if gain >= margin and gain > 0 else "rejected"
    return verdict, (
        f"{'' if champion is not None else 'no champion to compare; '}{metric} {challenger:.4f} vs {against} "
        f"{score:.4f} on the same holdout ({'higher' if higher_is_better else 'lower'} is better): "
        f"gain {gain:+.4f}, required > 0 and >= {margin}"
    )


def permutation_importance_frame(
    model,
    holdout: pd.DataFrame,
    features: list[str],
    label: str,
    seed: int,
    task: Task,
    max_rows: int = 5000,
    n_repeats: int = 3,
) -> pd.DataFrame:
    """Permutation importance of each raw feature on (a sample of) the holdout.

    How much the task's default metric (:func:`pipeline.metrics.default_promotion_metric`) worsens when
    one feature's values are shuffled, ``n_repeats`` times (:func:`sklearn.inspection.permutation_importance`;
    Breiman 2001, "Random Forests"): the drop in ROC AUC for classification, the rise in RMSE (scorer
    ``neg_root_mean_squared_error``, in the label's units) for regression.

    Returns:
        Columns ``feature`` (str), ``mean`` and ``std`` (float64, in the metric's units; positive when
        the feature helps), one row per feature.
    """
    from sklearn.inspection import permutation_importance

    sample = holdout.sample(n=min(max_rows, len(holdout)), random_state=seed)
    result = permutation_importance(
        model,
        sample[features],
        _labels(task, sample[label]),
        scoring=_SCORERS[default_promotion_metric(task)],
        n_repeats=n_repeats,
        random_state=seed,
    )
    return pd.DataFrame({"feature": features, "mean": result.importances_mean, "std": result.importances_std})


def _labels(task: Task, y: ArrayLike) -> np.ndarray:
    """Labels as int64 (classification) or float64 (regression), shape (n,)."""
    return np.asarray(y, dtype="int64" if task == BINARY_CLASSIFICATION else "float64").reshape(-1)
