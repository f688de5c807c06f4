"""One monitoring window, measured: what the ``monitor`` stage stores and the retraining study
replays. Measure here, then decide with :func:`pipeline.monitoring.trigger.decide_retrain`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from pipeline.config import DatasetConfig, MonitoringConfig
from pipeline.metrics import BINARY_CLASSIFICATION, TRIGGER_DRIFT_METRIC, Task, headline_metric
from pipeline.models.predict import predict
from pipeline.monitoring.drift import drifted_features, feature_drift, prediction_drift
from pipeline.monitoring.performance import realized_window


@dataclass(frozen=True)
class WindowEvaluation:
    """What a window shows about the champion.

    - ``feature_drift``: :func:`~pipeline.monitoring.drift.feature_drift` of the window against the
      champion's training rows;
    - ``prediction_drift``: the drift of its predictions on the window against its holdout
      predictions (:func:`~pipeline.monitoring.drift.prediction_drift`), ``kind`` = ``"prediction"``:
      a classifier's scores (feature ``score``) or a regression's predicted values (``prediction``);
    - ``performance``: realized performance per day and model version (long form; empty while no
      label has arrived), and ``realized``, the task's headline metric (``realized_metric``: ROC AUC
      or RMSE) of every champion prediction of the window pooled
      (:func:`~pipeline.monitoring.performance.realized_window`).
    """

    feature_drift: pd.DataFrame
    prediction_drift: pd.DataFrame
    performance: pd.DataFrame
    realized_metric: str
    realized: float | None

    def drifted_features(self, features: list[str] | None = None) -> list[str]:
        """The features (of ``features``, default all) whose PSI is above its threshold, sorted."""
        return drifted_features(self.feature_drift, features)

    @property
    def score_psi(self) -> float:
        """PSI of the champion's scores on the window against its holdout scores."""
        scores = self.prediction_drift
        return float(scores.loc[scores["metric"] == TRIGGER_DRIFT_METRIC, "value"].iloc[0])


def evaluate_window(
    model: Pipeline,
    reference: pd.DataFrame,
    reference_predictions: np.ndarray,
    window: pd.DataFrame,
    made: pd.DataFrame,
    dataset: DatasetConfig,
    monitoring: MonitoringConfig,
    task: Task,
) -> WindowEvaluation:
    """Measure a monitoring window.

    Args:
        model: the champion's fitted pipeline.
        reference: the champion's training rows (feature table).
        reference_predictions: shape (n,), its predictions on its holdout (probabilities of class 1,
            or predicted values).
        window: the window's feature table as known now (non-empty), labels where observed.
        made: the predictions made for the window's entities: the key column(s), ``model_version``,
            ``is_champion`` (bool), ``prediction`` (the probability of class 1, or the predicted value).
        dataset, monitoring: the config sections (columns, features, thresholds and sample-size rules).
        task: ``binary_classification`` or ``regression``.

    Raises:
        ValueError: an empty window or reference, or a missing feature column.
    """
    sample_size = {
        "significance": monitoring.significance,
        "min_rows": monitoring.min_rows,
        "min_bin_rows": monitoring.min_bin_rows,
    }
    drift = feature_drift(
        reference, window, dataset.numeric_features, dataset.categorical_features, monitoring.thresholds, **sample_size
    )
    scores = prediction_drift(
        reference_predictions,
        predict(model, window, dataset, task),
        monitoring.thresholds,
        probabilities=task == BINARY_CLASSIFICATION,
        **sample_size,
    )
    performance, realized = realized_window(made, window, dataset.key, dataset.timestamp, dataset.label, task)
    return WindowEvaluation(drift, scores.assign(kind="prediction"), performance, headline_metric(task), realized)
