"""A model card: one self-contained HTML page per model version (plots embedded as PNG data URIs)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.metrics import Task, holdout_metric_names
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
            ``training_data_sha256``, ``metrics`` and ``baseline`` (dicts with the four metrics),
            ``champion`` (None or ``{"version", "metrics"}``), ``validation`` (a validation summary).
        y_holdout: shape (n,), 0/1 labels; probability: shape (n,), this version's P(class 1).
        importance: permutation importance (``feature``, ``mean``, ``std``).
        task: the metrics listed are the task's holdout metrics; the plots are a classifier's
            (``"binary_classification"`` only, for now).

    Returns:
        UTF-8 HTML bytes; every value is HTML-escaped by jinja2's autoescaping.
    """
    from jinja2 import Environment

    images = [
        ("ROC curve", plots.roc_curve_png(y_holdout, probability)),
        ("Calibration", plots.calibration_png(y_holdout, probability)),
        ("Score histogram", plots.score_histogram_png(y_holdout, probability)),
        ("Permutation feature importance", plots.feature_importance_png(importance)),
    ]
    uris = [(title, "data:image/png;base64," + base64.b64encode(png).decode()) for title, png in images]
    template = Environment(autoescape=True).from_string(TEMPLATE.read_text())
    return template.render(**card, metric_names=holdout_metric_names(task), images=uris).encode()
