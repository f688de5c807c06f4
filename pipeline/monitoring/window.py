"""One monitoring window, measured: what the ``monitor`` stage stores and the retraining study
replays. Measure here, then decide with :func:`pipeline.monitoring.trigger.decide_retrain`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from pipeline.config import DatasetConfig, MonitoringConfig
from pipeline.metrics import TRIGGER_DRIFT_METRIC
from pipeline.models.train import predict_proba
from pipeline.monitoring.drift import drifted_features, feature_drift, prediction_drift
from pipeline.monitoring.performance import realized_window


@dataclass(frozen=True)
class WindowEvaluation:
    """What a window shows about the champion.

    - ``feature_drift``: :func:`~pipeline.monitoring.drift.feature_drift` of the window against the
      champion's training rows;
    - ``prediction_drift``: :func:`~pipeline.monitoring.drift.prediction_drift` of its scores on the
      window against its holdout scores, ``kind`` = ``"prediction"``;
    - ``performance``: realized performance per day and model version (long form; empty while no
      label has arrived), and ``realized_roc_auc``, every champion prediction of the window pooled
      (:func:`~pipeline.monitoring.performance.realized_window`).
    """

    feature_drift: pd.DataFrame
    prediction_drift: pd.DataFrame
    performance: pd.DataFrame
    realized_roc_auc: float | None

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
    reference_scores: np.ndarray,
    window: pd.DataFrame,
    made: pd.DataFrame,
    dataset: DatasetConfig,
    monitoring: MonitoringConfig,
) -> WindowEvaluation:
    """Measure a monitoring window.

    Args:
        model: the champion's fitted pipeline.
        reference: the champion's training rows (feature table).
        reference_scores: shape (n,), its probabilities on its holdout.
        window: the window's feature table as known now (non-empty), labels where observed.
        made: the predictions made for the window's entities: ``<key>``, ``model_version``,
            ``is_champion`` (bool), ``score``.
        dataset, monitoring: the config sections (columns, features, thresholds and sample-size rules).

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
        reference_scores, predict_proba(model, window, dataset), monitoring.thresholds, **sample_size
    )
    performance, auc = realized_window(made, window, dataset.key, dataset.timestamp, dataset.label)
    return WindowEvaluation(drift, scores.assign(kind="prediction"), performance, auc)
