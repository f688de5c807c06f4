"""Time-based split and training of a scikit-learn ``Pipeline`` (preprocessing + configured estimator)."""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from dataclasses import dataclass

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from pipeline.config import DatasetConfig, ModelConfig, TrainingConfig
from pipeline.errors import PermanentError

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


def split_by_time(frame: pd.DataFrame, split: TimeSplit, dataset: DatasetConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop unlabelled rows and cut ``frame`` at ``split.holdout_start``; never shuffles across time.

    Returns:
        ``(train, holdout)`` with the label as ``int64``.

    Raises:
        TrainingDataError: either side is empty.
    """
    labelled = frame[frame[dataset.label].notna()].copy()
    labelled[dataset.label] = labelled[dataset.label].astype("int64")
    ts = labelled[dataset.timestamp]
    train = labelled[(ts >= split.train_start) & (ts < split.holdout_start)]
    holdout = labelled[(ts >= split.holdout_start) & (ts < split.holdout_end)]
    if train.empty or holdout.empty:
        raise TrainingDataError(
            f"{len(train)} labelled training rows in [{split.train_start}, {split.holdout_start}) "
            f"and {len(holdout)} holdout rows in [{split.holdout_start}, {split.holdout_end})"
        )
    return train, holdout


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
    """Fit :func:`build_pipeline` on ``train``'s features and label (rows: entities; label 0/1)."""
    pipeline = build_pipeline(model, dataset)
    log.info("training %s on %d rows x %d features", model.estimator, len(train), len(dataset.features))
    pipeline.fit(train[dataset.features], train[dataset.label].to_numpy())
    return pipeline


def predict_proba(pipeline: Pipeline, frame: pd.DataFrame, dataset: DatasetConfig):
    """Probability of class 1 for each row of ``frame``: float64 array of shape (n,)."""
    return pipeline.predict_proba(frame[dataset.features])[:, 1]
