"""Holdout metrics for a binary classifier, a base-rate baseline, and the promotion rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from pipeline.errors import PermanentError
from pipeline.metrics import AVERAGE_PRECISION, BRIER, CLASSIFICATION, LOG_LOSS, ROC_AUC

_FUNCTIONS = {
    ROC_AUC: roc_auc_score,
    AVERAGE_PRECISION: average_precision_score,
    LOG_LOSS: lambda y, p: log_loss(y, p, labels=[0, 1]),
    BRIER: brier_score_loss,
}

# Metric name -> (function of (y_true, probability), True when higher is better), in the order of
# :data:`pipeline.metrics.CLASSIFICATION`, which names them.
METRICS = {m.name: (_FUNCTIONS[m.name], m.higher_is_better) for m in CLASSIFICATION}


class EvaluationError(PermanentError, ValueError):
    """The holdout cannot rank a model (empty, or a single class)."""


def classification_metrics(y_true: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """ROC AUC, average precision, log loss and Brier score of ``probability`` against ``y_true``.

    Args:
        y_true: shape (n,), 0/1 labels.
        probability: shape (n,), predicted probability of class 1.

    Returns:
        each of :data:`pipeline.metrics.CLASSIFICATION_METRICS` -> float, plus ``"rows"``.

    Raises:
        EvaluationError: fewer than one example of each class.
    """
    y_true = np.asarray(y_true, dtype=int)
    if len(np.unique(y_true)) < 2:
        raise EvaluationError(f"the holdout has {len(y_true)} rows and a single class; widen training.holdout_days")
    out = {name: float(fn(y_true, probability)) for name, (fn, _) in METRICS.items()}
    out["rows"] = len(y_true)
    return out


def baseline_metrics(y_train: np.ndarray, y_holdout: np.ndarray) -> dict[str, float]:
    """Metrics of the base-rate baseline: every holdout row gets the training positive rate."""
    rate = float(np.mean(y_train))
    return classification_metrics(y_holdout, np.full(len(y_holdout), rate)) | {"base_rate": rate}


def promotion_decision(
    metric: str, challenger: float, champion: float | None, min_improvement: float, force: bool = False
) -> tuple[str, str]:
    """Decide whether the challenger replaces the champion.

    The challenger is promoted when there is no champion, or when it beats the champion's score on
    the same holdout by at least ``min_improvement`` in ``metric``'s direction (higher ROC AUC and
    average precision, lower log loss and Brier score).

    Returns:
        ``(decision, reason)`` with decision ``"promoted"``, ``"rejected"`` or ``"forced"``.
    """
    if force:
        return "forced", f"promotion forced; {metric} {challenger:.4f} vs champion {champion}"
    if champion is None:
        return "promoted", f"no champion yet; {metric} {challenger:.4f}"
    higher_is_better = METRICS[metric][1]
    gain = challenger - champion if higher_is_better else champion - challenger
    verdict = "promoted" if gain >= min_improvement and gain > 0 else "rejected"
    return verdict, (
        f"{metric} {challenger:.4f} vs champion {champion:.4f} on the same holdout: "
        f"gain {gain:+.4f}, required > 0 and >= {min_improvement}"
    )


def permutation_importance_frame(
    model, holdout: pd.DataFrame, features: list[str], label: str, seed: int, max_rows: int = 5000, n_repeats: int = 3
) -> pd.DataFrame:
    """Permutation importance of each raw feature on (a sample of) the holdout.

    The drop in ROC AUC when one feature's values are shuffled, ``n_repeats`` times
    (:func:`sklearn.inspection.permutation_importance`; Breiman 2001, "Random Forests").

    Returns:
        Columns ``feature`` (str), ``mean`` and ``std`` (float, ROC AUC points), one row per feature.
    """
    from sklearn.inspection import permutation_importance

    sample = holdout.sample(n=min(max_rows, len(holdout)), random_state=seed)
    result = permutation_importance(
        model, sample[features], sample[label].to_numpy(), scoring=ROC_AUC, n_repeats=n_repeats, random_state=seed
    )
    return pd.DataFrame({"feature": features, "mean": result.importances_mean, "std": result.importances_std})
