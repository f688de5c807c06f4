"""Evaluation plots for model cards, drawn with matplotlib (Agg backend) and returned as PNG bytes."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd


def new_figure(width: float = 5, height: float = 4):
    """A matplotlib figure of ``width`` x ``height`` inches at 100 dpi (Agg backend) and its one axes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    return figure, figure.subplots()


def _png(figure) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def roc_curve_png(y_true: np.ndarray, probability: np.ndarray) -> bytes:
    """ROC curve of holdout scores. ``y_true``: shape (n,), 0/1; ``probability``: shape (n,), P(class 1).
    Returns a 5 x 4 inch PNG at 100 dpi."""
    from sklearn.metrics import RocCurveDisplay

    figure, ax = new_figure()
    RocCurveDisplay.from_predictions(y_true, probability, ax=ax, plot_chance_level=True)
    ax.set_title("ROC curve (holdout)")
    return _png(figure)


def calibration_png(y_true: np.ndarray, probability: np.ndarray) -> bytes:
    """Reliability diagram over 10 quantile bins of the holdout scores (sklearn CalibrationDisplay)."""
    from sklearn.calibration import CalibrationDisplay

    figure, ax = new_figure()
    CalibrationDisplay.from_predictions(y_true, probability, n_bins=10, strategy="quantile", ax=ax)
    ax.set_title("Calibration (holdout, quantile bins)")
    return _png(figure)


def score_histogram_png(y_true: np.ndarray, probability: np.ndarray) -> bytes:
    """Histogram of holdout scores, one series per true class, 40 bins over [0, 1]."""
    figure, ax = new_figure()
    bins = np.linspace(0, 1, 41)
    for label, colour in ((0, "tab:blue"), (1, "tab:orange")):
        ax.hist(probability[y_true == label], bins=bins, alpha=0.6, color=colour, label=f"label {label}")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("rows")
    ax.set_title("Score distribution (holdout)")
    ax.legend()
    return _png(figure)


def prediction_error_png(y_true: np.ndarray, prediction: np.ndarray, kind: str) -> bytes:
    """A regression's holdout predictions against the labels (``kind="actual_vs_predicted"``) or its
    residuals against the predictions (``kind="residual_vs_predicted"``), with sklearn's
    PredictionErrorDisplay; ``y_true`` and ``prediction``: shape (n,), in the label's units (at most
    1,000 points drawn, sampled with a fixed seed)."""
    from sklearn.metrics import PredictionErrorDisplay

    figure, ax = new_figure()
    PredictionErrorDisplay.from_predictions(y_true, prediction, kind=kind, ax=ax, subsample=1000, random_state=0)
    ax.set_title(kind.replace("_", " ") + " (holdout)")
    return _png(figure)


def feature_importance_png(importance: pd.DataFrame, metric: str) -> bytes:
    """Horizontal bar chart of permutation importance.

    Args:
        importance: columns ``feature``, ``mean``, ``std``: how much worse ``metric`` gets on the
            holdout when the feature is shuffled (ROC AUC points, or RMSE in the label's units).
        metric: the metric's name, for the axis label.
    """
    ordered = importance.sort_values("mean")
    figure, ax = new_figure(6, max(3, 0.25 * len(ordered)))
    ax.barh(ordered["feature"], ordered["mean"], xerr=ordered["std"], color="tab:green")
    ax.set_xlabel(f"holdout {metric} worsening when shuffled")
    ax.set_title("Permutation feature importance")
    return _png(figure)
