"""Time-based split and training of a scikit-learn ``Pipeline`` (preprocessing + configured estimator)."""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from pipeline.config import DatasetConfig, ModelConfig, TrainingConfig
from pipeline.errors import PermanentError
from pipeline.metrics import BINARY_CLASSIFICATION, REGRESSION, TASKS, Task

log = logging.getLogger(__name__)


class TrainingDataError(PermanentError, ValueError):
    """Too little labelled data to train or evaluate; the message gives the counts."""


@dataclass(frozen=True)
class TimeSplit:
    """Training window ``[train_start, holdout_start)`` followed by holdout ``[holdout_start, holdout_end)``."""

    train_start: dt.datetime
    holdout_start: dt.datetime
    holdout_end: dt.datetime

    def to_dict(self) -> dict[str, str]:
        """ISO strings, for XCom and the registry."""
        return {k: v.isoformat() for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict[str, str]) -> TimeSplit:
        """Inverse of :meth:`to_dict`."""
        return cls(*(dt.datetime.fromisoformat(d[k]) for k in ("train_start", "holdout_start", "holdout_end")))

    @classmethod
    def ending_at(cls, end: dt.datetime, training: TrainingConfig) -> TimeSplit:
        """The split whose holdout is the ``holdout_days`` before ``end`` (the data interval's end)."""
        holdout_start = end - dt.timedelta(days=training.holdout_days)
        return cls(holdout_start - dt.timedelta(days=training.window_days), holdout_start, end)


def known_labels(frame: pd.DataFrame, dataset: DatasetConfig, cutoff: dt.datetime) -> pd.DataFrame:
    """``frame`` with the labels not yet observed at ``cutoff`` set to null (unlabelled): the one rule by
    which retraining, the study and the monitor see labels, so none of them uses a label from after its
    own cutoff.

    A label is known at ``cutoff`` when its ``dataset.label_known_at`` is at or before ``cutoff`` (a fact
    known at t may be used by a cutoff at t, as for the features: docs/features.md); a
    null ``label_known_at`` means never known (the label is null too). A frame without that column (a
    training snapshot stored before the column existed; :func:`extract_feature_table` requires it of
    every new batch) is returned as it is, with a warning.

    Args:
        frame: a feature table with ``dataset.label`` and ``dataset.label_known_at`` (timestamptz).
        cutoff: the run's cutoff (its data interval's end), timezone-aware.

    Returns:
        A copy of ``frame``; masked labels hold null (NaN or NA, as the column's dtype allows).
    """
    out = frame.copy()
    if dataset.label_known_at not in out.columns:
        log.warning("no %s column (an older snapshot): its labels are taken as known", dataset.label_known_at)
        return out
    known = out[dataset.label_known_at].notna() & (out[dataset.label_known_at] <= cutoff)
    out[dataset.label] = out[dataset.label].where(known)
    return out


def split_by_time(
    frame: pd.DataFrame, split: TimeSplit, dataset: DatasetConfig, task: Task
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop the rows whose label was not known at ``split.holdout_end`` (:func:`known_labels`; the run's
    cutoff) and cut ``frame`` at ``split.holdout_start``; never shuffles across time.

    Args:
        frame: a feature table: ``dataset.timestamp`` (tz-aware), ``dataset.label`` (null while
            unknown) and ``dataset.label_known_at`` columns among others.
        task: ``"binary_classification"`` (labels 0/1, or bool) or ``"regression"`` (finite numbers,
            in the label's units).

    Returns:
        ``(train, holdout)``, copies of the labelled rows, with the label as ``int64`` for
        classification and ``float64`` for regression.

    Raises:
        TrainingDataError: a label is not 0/1 (classification) or not a finite number (regression);
            or either side is empty.
    """
    known = known_labels(frame, dataset, split.holdout_end)
    labelled = known[known[dataset.label].notna()].copy()
    labelled[dataset.label] = _labels(labelled[dataset.label], dataset.label, task)
    ts = labelled[dataset.timestamp]
    train = labelled[(ts >= split.train_start) & (ts < split.holdout_start)]
    holdout = labelled[(ts >= split.holdout_start) & (ts < split.holdout_end)]
    if train.empty or holdout.empty:
        raise TrainingDataError(
            f"{len(train)} labelled training rows in [{split.train_start}, {split.holdout_start}) "
            f"and {len(holdout)} holdout rows in [{split.holdout_start}, {split.holdout_end})"
        )
    return train, holdout


def _labels(labels: pd.Series, name: str, task: Task) -> pd.Series:
    """Non-null labels as int64 0/1 (classification) or finite float64 (regression)."""
    if task == BINARY_CLASSIFICATION:
        bad = labels[~labels.isin([0, 1])]
        if len(bad):
            raise TrainingDataError(f"{name} must be 0/1 for {task}; found {sorted(map(str, bad.unique()))[:5]}")
        return labels.astype("int64")
    if task != REGRESSION:
        raise ValueError(f"unknown task {task!r}; known: {list(TASKS)}")
    try:
        values = labels.astype("float64")
    except (TypeError, ValueError) as exc:
        raise TrainingDataError(f"{name} must be numeric for {task}: {exc}") from exc
    if not np.isfinite(values.to_numpy()).all():
        raise TrainingDataError(f"{name} must be finite for {task}; found inf")
    return values


def make_estimator(model: ModelConfig):
    """Instantiate ``model.estimator`` with ``model.params`` and, where it takes one, the fixed seed.

    Raises:
        ValueError: the class cannot be imported or rejects a parameter; names ``model.estimator``.
    """
    module_name, _, class_name = model.estimator.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
        estimator = cls(**model.params)
    except (ImportError, AttributeError, TypeError) as exc:
        raise ValueError(f"model.estimator / model.params: cannot build {model.estimator}: {exc}") from exc
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=model.random_seed)
    return estimator


def build_pipeline(model: ModelConfig, dataset: DatasetConfig) -> Pipeline:
    """Preprocessing plus estimator, unfitted.

    Numeric features: median imputation with missing-value indicators. Categorical features:
    one-hot encoding; categories seen fewer than 20 times are pooled, unseen ones at scoring time
    map to that pool (``handle_unknown="infrequent_if_exist"``).
    """
    preprocess = ColumnTransformer(
        [
            (
                "numeric",
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                dataset.numeric_features,
            ),
            (
                "categorical",
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20, sparse_output=False),
                dataset.categorical_features,
            ),
        ],
        verbose_feature_names_out=False,
    )
    return Pipeline([("preprocess", preprocess), ("estimator", make_estimator(model))])


def train_model(train: pd.DataFrame, model: ModelConfig, dataset: DatasetConfig) -> Pipeline:
    """Fit :func:`build_pipeline` on ``train``'s features and label (rows: entities; the label as
    :func:`split_by_time` returns it)."""
    estimator = build_pipeline(model, dataset)
    log.info("training %s on %d rows x %d features", model.estimator, len(train), len(dataset.features))
    started = time.monotonic()
    with _heartbeat(f"training {model.estimator}", started):
        estimator.fit(train[dataset.features], train[dataset.label].to_numpy())
    log.info("trained %s in %.1f s", model.estimator, time.monotonic() - started)
    return estimator


# Seconds between "still training" log lines, so a long fit never looks hung in a task log.
HEARTBEAT_SECONDS = 30.0


@contextmanager
def _heartbeat(what: str, started: float) -> Iterator[None]:
    """Log ``<what>: <n> s elapsed`` every :data:`HEARTBEAT_SECONDS` until the block ends."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            log.info("%s: %.0f s elapsed", what, time.monotonic() - started)

    thread = threading.Thread(target=beat, name="training-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
