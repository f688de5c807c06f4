"""A model card: one self-contained HTML page per model version (plots embedded as PNG data URIs)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.metrics import BINARY_CLASSIFICATION, Task, default_promotion_metric, holdout_metric_names
from pipeline.visualization import plots

TEMPLATE = Path(__file__).with_name("model_card.html.j2")


def model_card_html(
    *,
    card: dict[str, Any],
    y_holdout: np.ndarray,
    probability: np.ndarray,
    importance: pd.DataFrame,
    task: Task,
) -> bytes:
    """Render the model card.

    Args:
        card: ``model_name``, ``version``, ``estimator``, ``actor``, ``code_version``, ``train_start``,
            ``train_end``, ``holdout_start``, ``holdout_end``, ``train_rows``, ``holdout_rows``,
            ``training_data_sha256``, ``metrics`` and ``baseline`` (dicts with the task's holdout metrics),
            ``champion`` (None or ``{"version", "metrics"}``), ``gate`` (None or the promotion gate's
            decision, :meth:`pipeline.models.promotion.GateDecision.to_dict`), ``validation`` (a
            validation summary).
        y_holdout: shape (n,), the holdout labels (0/1, or values); probability: shape (n,), this
            version's predictions on them (P(class 1), or predicted values).
        importance: permutation importance (``feature``, ``mean``, ``std``).
        task: which metrics and plots: ROC, calibration and score histogram for a classifier;
            predicted against actual and residuals for a regression.

    Returns:
        UTF-8 HTML bytes; every value is HTML-escaped by jinja2's autoescaping.
    """
    from jinja2 import Environment

    if task == BINARY_CLASSIFICATION:
        images = [
            ("ROC curve", plots.roc_curve_png(y_holdout, probability)),
            ("Calibration", plots.calibration_png(y_holdout, probability)),
            ("Score histogram", plots.score_histogram_png(y_holdout, probability)),
        ]
    else:
        images = [
            ("Predicted against actual", plots.prediction_error_png(y_holdout, probability, "actual_vs_predicted")),
            ("Residuals", plots.prediction_error_png(y_holdout, probability, "residual_vs_predicted")),
        ]
    images.append(
        ("Permutation feature importance", plots.feature_importance_png(importance, default_promotion_metric(task)))
    )
    uris = [(title, "data:image/png;base64," + base64.b64encode(png).decode()) for title, png in images]
    template = Environment(autoescape=True).from_string(TEMPLATE.read_text())
    return template.render(
        **card,
        metric_names=holdout_metric_names(task),
        baseline_name="base-rate baseline" if task == BINARY_CLASSIFICATION else "training-mean baseline",
        images=uris,
    ).encode()
