"""One monitoring window, measured: what the ``monitor`` stage stores. Measure here, then decide with
:func:`pipeline.monitoring.trigger.decide_retrain`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from pipeline.config import DatasetConfig, MonitoringConfig
from pipeline.metrics import BINARY_CLASSIFICATION, TRIGGER_DRIFT_METRIC, Task, headline_metric
from pipeline.models.predict import predict
from pipeline.monitoring.drift import drifted_features, feature_drift, prediction_drift
from pipeline.monitoring.performance import has_key, realized_window


@dataclass(frozen=True)
class WindowRows:
    """The rows a monitoring window is measured on.

    - ``served``: the feature rows the window's published predict runs scored, read from their feature
      batches (one row per entity; :func:`pipeline.features.batch.served_window`);
    - ``queried``: the feature query's rows for the window's times no readable batch covers (the
      fallback; empty when batches cover the whole window);
    - ``labels``: the window's feature table as known now, one row per key, with the dataset's
      timestamp and label (null while not observed): what realized performance joins to.
    """

    served: pd.DataFrame
    queried: pd.DataFrame
    labels: pd.DataFrame

    @cached_property
    def features(self) -> pd.DataFrame:
        """The window's feature rows: ``served`` then ``queried`` (either alone when the other is empty)."""
        parts = [frame for frame in (self.served, self.queried) if len(frame)] or [self.queried]
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


@dataclass(frozen=True)
class WindowEvaluation:
    """What a window shows about the champion.

    - ``feature_drift``: :func:`~pipeline.monitoring.drift.feature_drift` of the window against the
      champion's training rows;
    - ``prediction_drift``: the drift of its predictions on the window against its holdout
      predictions (:func:`~pipeline.monitoring.drift.prediction_drift`), ``kind`` = ``"prediction"``:
      a classifier's scores (feature ``score``) or a regression's predicted values (``prediction``);
      ``scores``: how many of those predictions were its published ones (``served``) and how many it
      scored now on queried rows no champion prediction was published for (``rescored``);
      ``champion_predictions``: the champion predictions published for the window's entities, counted
      per model version (version as text, for JSON): a rollback in the window shows as two versions;
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
    scores: dict[str, int]
    champion_predictions: dict[str, int]

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
    rows: WindowRows,
    made: pd.DataFrame,
    champion: int,
    dataset: DatasetConfig,
    monitoring: MonitoringConfig,
    task: Task,
) -> WindowEvaluation:
    """Measure a monitoring window on what was served.

    - Feature drift: ``rows.features`` (served, plus the queried fallback) against ``reference``.
    - Prediction drift: the champion predictions published by version ``champion`` for the window's
      entities (those of ``rows.features``) against ``reference_predictions``. Predictions a version
      made while it was champion are what that version served: those of other versions (a rollback in
      the window) are left out of this drift and count in realized performance under their version.
      Only queried rows that no champion prediction was published for are scored now, by ``model``.
    - Realized performance: ``made`` joined to ``rows.labels``.

    Args:
        model: the champion's fitted pipeline (used only on the fallback rows).
        reference: the champion's training rows (feature table).
        reference_predictions: shape (n,), its predictions on its holdout (probabilities of class 1,
            or predicted values).
        rows: the window's rows (:class:`WindowRows`); ``rows.features`` non-empty.
        made: the predictions made for the window's entities: the key column(s), ``model_version``,
            ``is_champion`` (bool), ``prediction`` (the probability of class 1, or the predicted value).
        champion: the champion's version.
        dataset, monitoring: the config sections (columns, features, thresholds and sample-size rules).
        task: ``binary_classification`` or ``regression``.

    Raises:
        ValueError: an empty window or reference, a missing feature column, or no prediction at all
            for the window (none published by ``champion`` and no fallback row to score).
    """
    sample_size = {
        "significance": monitoring.significance,
        "min_rows": monitoring.min_rows,
        "min_bin_rows": monitoring.min_bin_rows,
    }
    features = rows.features
    numeric, categorical = dataset.numeric_features, dataset.categorical_features
    drift = feature_drift(reference, features, numeric, categorical, monitoring.thresholds, **sample_size)
    live = made[made["is_champion"].astype(bool)]
    live = live[has_key(live, features, dataset.key)]  # the champion predictions of the window's entities
    served, rescored = _window_scores(model, rows, live, champion, dataset, task)
    scores = prediction_drift(
        reference_predictions,
        np.concatenate([served, rescored]),
        monitoring.thresholds,
        probabilities=task == BINARY_CLASSIFICATION,
        **sample_size,
    )
    performance, realized = realized_window(made, rows.labels, dataset.key, dataset.timestamp, dataset.label, task)
    counts = {"served": len(served), "rescored": len(rescored)}
    per_version = {str(v): int(n) for v, n in live.groupby("model_version").size().items()}
    return WindowEvaluation(
        drift, scores.assign(kind="prediction"), performance, headline_metric(task), realized, counts, per_version
    )


def _window_scores(
    model: Pipeline, rows: WindowRows, live: pd.DataFrame, champion: int, dataset: DatasetConfig, task: Task
) -> tuple[np.ndarray, np.ndarray]:
    """The champion's scores on the window (each float64, shape (n,)): its published champion
    predictions for the window's entities (of ``live``, every version's), and its predictions now on
    the queried rows no champion prediction was published for."""
    mine = live.loc[live["model_version"] == champion, "prediction"].to_numpy(dtype="float64")
    unserved = rows.queried[~has_key(rows.queried, live, dataset.key)] if len(rows.queried) else rows.queried
    rescored = predict(model, unserved, dataset, task) if len(unserved) else np.empty(0)
    return mine, np.asarray(rescored, dtype="float64")
