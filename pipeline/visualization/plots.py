"""Evaluation plots saved as model artifacts (PNG bytes), drawn with matplotlib's Agg backend."""

from __future__ import annotations

import io

import numpy as np


def holdout_curves_png(y_true: np.ndarray, probability: np.ndarray, title: str) -> bytes:
    """ROC curve and calibration (reliability) curve of holdout scores, side by side.

    Args:
        y_true: shape (n,), 0/1 labels.
        probability: shape (n,), predicted probability of class 1.
        title: figure title, e.g. ``"flight_delay v3"``.

    Returns:
        A PNG image, 10 x 4 inches at 100 dpi.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from sklearn.calibration import CalibrationDisplay
    from sklearn.metrics import RocCurveDisplay

    figure = Figure(figsize=(10, 4), dpi=100)
    roc_ax, cal_ax = figure.subplots(1, 2)
    RocCurveDisplay.from_predictions(y_true, probability, ax=roc_ax, plot_chance_level=True)
    roc_ax.set_title("ROC curve (holdout)")
    CalibrationDisplay.from_predictions(y_true, probability, n_bins=10, strategy="quantile", ax=cal_ax)
    cal_ax.set_title("Calibration (holdout, quantile bins)")
    figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
