"""Batch scoring with a fitted model: its point output per row (:func:`predict`) and the rows a
predictions table stores (:func:`score`). Writing them is :mod:`pipeline.data.predictions`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from pipeline.config import DatasetConfig
from pipeline.metrics import BINARY_CLASSIFICATION, REGRESSION, TASKS, Task


def predict(estimator: Pipeline, frame: pd.DataFrame, dataset: DatasetConfig, task: Task) -> np.ndarray:
    """The model's point output for each row of ``frame``.

    Returns:
        float64 array of shape (n,): the probability of class 1 (``predict_proba``'s column for class
        1) for classification; the predicted value (``predict``, in the label's units) for regression.

    Raises:
        ValueError: the estimator does not fit the task (a classifier without ``predict_proba``, or
            one not trained on the classes 0 and 1), or an unknown task.
    """
    features = frame[dataset.features]
    if task == BINARY_CLASSIFICATION:
        classes = list(getattr(estimator, "classes_", [0, 1]))
        if not hasattr(estimator, "predict_proba") or classes != [0, 1]:
            raise ValueError(
                f"task {task} needs a classifier of the classes [0, 1] with predict_proba; got "
                f"{type(estimator[-1] if isinstance(estimator, Pipeline) else estimator).__name__} of {classes}"
            )
        return np.asarray(estimator.predict_proba(features)[:, 1], dtype="float64")
    if task != REGRESSION:
        raise ValueError(f"unknown task {task!r}; known: {list(TASKS)}")
    return np.asarray(estimator.predict(features), dtype="float64").reshape(len(frame))


def score(
    estimator: Pipeline, frame: pd.DataFrame, dataset: DatasetConfig, threshold: float, task: Task
) -> pd.DataFrame:
    """Score every row of a feature-table batch.

    Args:
        threshold: classification only: the probability from which a row is predicted positive.
        task: ``"binary_classification"`` or ``"regression"``.

    Returns:
        One row per input row, in order (a fresh RangeIndex): the key column(s) (dtypes as in
        ``frame``), ``prediction`` (float64: :func:`predict`, the probability of class 1 or the
        predicted value in the label's units) and, for classification only, ``score`` (float64, the
        same probability) and ``predicted_label`` (int16: 1 when score >= ``threshold``).
    """
    prediction = predict(estimator, frame, dataset, task)
    out = frame[dataset.key].reset_index(drop=True)
    out["prediction"] = prediction
    if task == BINARY_CLASSIFICATION:
        out["score"] = prediction
        out["predicted_label"] = (prediction >= threshold).astype(np.int16)
    return out
