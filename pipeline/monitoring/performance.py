"""Realized performance: how good the predictions actually made were, once their labels arrived.

The metric functions are the ones the holdout uses (:data:`pipeline.models.evaluate.METRIC_FUNCTIONS`,
scikit-learn underneath), so realized and holdout numbers are comparable. Two tasks:

- ``binary_classification``: the prediction is the probability of class 1, labels are 0/1;
  ``roc_auc``, ``brier``, ``log_loss``, with ``rows``, ``positives``, ``mean_score`` and
  ``positive_rate``;
- ``regression``: the prediction is the predicted value, labels are numbers (both in the label's
  units); ``rmse``, ``mae``, ``r2``, with ``rows``, ``mean_prediction`` and ``mean_label``.

Pure: DataFrames in and out.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from pipeline.metrics import BINARY_CLASSIFICATION, Task, get_metric, headline_metric, realized_metric_names
from pipeline.models.evaluate import METRIC_FUNCTIONS


def performance_columns(task: Task) -> list[str]:
    """The columns of :func:`performance_metrics`, in order: ``rows``, ``positives``, the realized
    metrics, ``mean_score``, ``positive_rate`` (classification); ``rows``, the realized metrics,
    ``mean_prediction``, ``mean_label`` (regression).

    Raises:
        ValueError: an unknown task.
    """
    metrics = list(realized_metric_names(task))
    if task == BINARY_CLASSIFICATION:
        return ["rows", "positives", *metrics, "mean_score", "positive_rate"]
    return ["rows", *metrics, "mean_prediction", "mean_label"]


def performance_metrics(task: Task, y_true: ArrayLike, prediction: ArrayLike) -> dict[str, float]:
    """Metrics of one group of labelled predictions (:func:`performance_columns` in order).

    Args:
        task: ``"binary_classification"`` or ``"regression"``.
        y_true: shape (n,), n >= 1: 0/1 labels, or real labels.
        prediction: shape (n,): the probability of class 1, or the predicted value.

    Returns:
        ``rows`` (and for classification ``positives``) as int. Classification: ``roc_auc`` (NaN when
        the group has a single class, where it is undefined); ``brier`` (mean squared error of the
        probability); ``log_loss`` (natural log, labels fixed to [0, 1] so single-class groups work);
        ``mean_score`` and ``positive_rate``, whose gap is the calibration-in-the-large error.
        Regression: ``rmse`` and ``mae`` (label units); ``r2`` (NaN when every label is the same, a
        single row included); ``mean_prediction`` and ``mean_label``, whose gap is the mean bias.
    """
    classification = task == BINARY_CLASSIFICATION
    y = np.asarray(y_true, dtype="int64" if classification else "float64")
    p = np.asarray(prediction, dtype="float64")
    constant = np.unique(y).size < 2
    realized = {
        name: math.nan if constant and get_metric(name).needs_two_values else float(METRIC_FUNCTIONS[name](y, p))
        for name in realized_metric_names(task)
    }
    if classification:
        return {
            "rows": int(y.size),
            "positives": int(y.sum()),
            **realized,
            "mean_score": float(p.mean()),
            "positive_rate": float(y.mean()),
        }
    return {"rows": int(y.size), **realized, "mean_prediction": float(p.mean()), "mean_label": float(y.mean())}


def realized_performance(
    frame: pd.DataFrame,
    label: str,
    task: Task,
    prediction: str = "prediction",
    by: Sequence[str] = ("day", "model_version"),
) -> pd.DataFrame:
    """:func:`performance_metrics` per group of predictions joined with their realized labels.

    Args:
        frame: one row per prediction, with the ``label`` column (null while the label has not
            arrived, such rows are dropped; 0/1 or bool for classification, numbers for regression),
            the ``prediction`` column (probability in [0, 1], or the predicted value) and the ``by``
            columns.
        label: the realized label column.
        task: ``"binary_classification"`` or ``"regression"``.
        prediction: the prediction column.
        by: grouping columns, for example the prediction's day and the model version; empty for one
            overall row.

    Returns:
        One row per group that has labelled rows, sorted by ``by``: the ``by`` columns then
        :func:`performance_columns` (``rows``, ``positives`` int64; the rest float64). No rows when no
        label has arrived yet.

    Raises:
        ValueError: the frame is empty, a column is missing, or on a labelled row the label is not 0/1
            (classification) or not a finite number (regression), or the prediction is missing, not
            finite, or (classification) outside [0, 1].
    """
    by = list(by)
    columns = performance_columns(task)
    _check_columns(frame, [label, prediction, *by])
    labelled = frame[frame[label].notna()]
    _check_values(labelled, label, prediction, task)
    groups = labelled.groupby(by, sort=True, dropna=False) if by else [((), labelled)]
    rows = [
        dict(zip(by, keys, strict=True)) | performance_metrics(task, group[label], group[prediction])
        for keys, group in groups
        if len(group)
    ]
    dtypes = {c: "int64" if c in ("rows", "positives") else "float64" for c in columns}
    return pd.DataFrame(rows, columns=[*by, *columns]).astype(dtypes)


def realized_window(
    made: pd.DataFrame, labels: pd.DataFrame, key_columns: list[str], timestamp: str, label: str, task: Task
) -> tuple[pd.DataFrame, float | None]:
    """Realized performance of the predictions made over a monitoring window.

    Args:
        made: one row per prediction made for the window: the ``key_columns``, ``model_version``
            (int), ``is_champion`` (bool) and ``prediction`` (float: probability of class 1, or
            predicted value); every champion prediction pooled, whichever version was champion when
            it was made.
        labels: the window's feature table as known now, one row per key: the ``key_columns``,
            ``timestamp`` (tz-aware) and ``label`` (null while unknown); without a ``label`` column
            nothing is measured.
        key_columns: the dataset's key column(s); rows join on all of them. Keys may be integers,
            text, uuids, dates or timestamps; when the two sides hold one key in different dtypes
            (datetime units, time zones, ``str`` vs ``object``, uuid objects vs text, dates vs
            midnight timestamps) the values are compared as the same instants, dates or text.
        timestamp, label: the dataset's column names.
        task: ``"binary_classification"`` or ``"regression"``.

    Returns:
        ``(performance, headline)``: :func:`realized_performance` per ``day`` (the entity's
        timestamp's date) and ``model_version`` in :func:`to_long` form (no rows while no label has
        arrived), and the task's headline metric (:func:`pipeline.metrics.headline_metric`: ROC AUC,
        or RMSE in the label's units) of the labelled champion predictions pooled over the window
        (None without labelled champion predictions, or where the metric is undefined: ROC AUC on a
        single class).

    Raises:
        ValueError: a key column is missing, a key's dtypes on the two sides cannot be compared
            (for example a tz-aware timestamp against a naive one), or ``labels`` repeats a key.
    """
    if label not in labels.columns:
        return pd.DataFrame(), None
    labelled = join_labels(made, labels, key_columns, timestamp, label)
    labelled = labelled[labelled[label].notna()]
    if labelled.empty:
        return pd.DataFrame(), None
    labelled = labelled.assign(day=labelled[timestamp].dt.date)
    id_cols = ["day", "model_version"]
    performance = to_long(realized_performance(labelled, label, task, by=id_cols), id_cols)
    live = labelled[labelled["is_champion"].astype(bool)]
    if live.empty:
        return performance, None
    headline = performance_metrics(task, live[label], live["prediction"])[headline_metric(task)]
    return performance, None if math.isnan(headline) else headline


def join_labels(
    made: pd.DataFrame, labels: pd.DataFrame, key_columns: list[str], timestamp: str, label: str
) -> pd.DataFrame:
    """The predictions made, each with its entity's timestamp and label (null while unknown).

    Args:
        made, labels, key_columns, timestamp, label: as :func:`realized_window` takes them; ``labels``
            must have the ``label`` column.

    Returns:
        ``made``'s rows whose key is in ``labels`` (the others are dropped), with ``timestamp`` and
        ``label`` added; keys compared as :func:`realized_window` says.

    Raises:
        ValueError: as :func:`realized_window`.
    """
    keys = list(key_columns)
    _check_columns(made, keys, allow_empty=True)
    _check_columns(labels, [*keys, timestamp, label], allow_empty=True)
    made, labels = _comparable_keys(made, labels[list(dict.fromkeys([*keys, timestamp, label]))], keys)
    try:
        return made.merge(labels, on=keys, validate="many_to_one")
    except pd.errors.MergeError as exc:
        raise ValueError(f"the window's feature table repeats a key {keys}: {exc}") from exc
    except ValueError as exc:  # pandas refuses to compare the key dtypes
        raise ValueError(f"cannot join predictions to labels on {keys}: {exc}") from exc


def has_key(frame: pd.DataFrame, other: pd.DataFrame, key_columns: list[str]) -> np.ndarray:
    """Whether each row's key (``key_columns``) of ``frame`` is the key of a row of ``other``: bool,
    shape (len(frame),); keys compared as :func:`realized_window` says.

    Raises:
        ValueError: a key column is missing from either frame.
    """
    keys = list(key_columns)
    _check_columns(frame, keys, allow_empty=True)
    _check_columns(other, keys, allow_empty=True)
    left, right = _comparable_keys(frame[keys], other[keys], keys)
    if len(keys) == 1:
        return left[keys[0]].isin(right[keys[0]]).to_numpy()
    return pd.MultiIndex.from_frame(left).isin(pd.MultiIndex.from_frame(right))


def metric_value(metric: str, y_true: ArrayLike, prediction: ArrayLike) -> float | None:
    """One holdout metric (``pipeline.models.evaluate.METRIC_FUNCTIONS``) of labelled predictions.

    Args:
        metric: a metric name of :data:`pipeline.metrics.METRICS` (``roc_auc``, ``rmse``, ...).
        y_true, prediction: shape (n,): 0/1 labels and probabilities of class 1, or real labels and
            predicted values.

    Returns:
        The value, or None with no rows or where it is undefined (a single label value for ROC AUC,
        average precision or R²).
    """
    y, p = np.asarray(y_true, dtype="float64"), np.asarray(prediction, dtype="float64")
    if y.size == 0 or (get_metric(metric).needs_two_values and np.unique(y).size < 2):
        return None
    return float(METRIC_FUNCTIONS[metric](y, p))


def to_long(frame: pd.DataFrame, id_cols: Sequence[str]) -> pd.DataFrame:
    """Reshape a wide metrics frame to ``id_cols + [metric, value]`` rows, for warehouse storage.

    Args:
        frame: for example :func:`realized_performance`'s result; every column not in ``id_cols`` is a
            metric and must be numeric.
        id_cols: the columns that identify a group (for example ``["day", "model_version"]``).

    Returns:
        One row per (group, metric), groups in the frame's order and metrics in column order;
        ``metric`` is the column name (str) and ``value`` float64.

    Raises:
        ValueError: an id column is missing, or a metric column is not numeric.
    """
    id_cols = list(id_cols)
    _check_columns(frame, id_cols, allow_empty=True)
    metrics = [c for c in frame.columns if c not in id_cols]
    position = np.tile(np.arange(len(frame)), len(metrics))
    long = frame.melt(id_vars=id_cols, value_vars=metrics, var_name="metric", value_name="value")
    long = long.iloc[np.argsort(position, kind="stable")].reset_index(drop=True)
    return long.astype({"metric": str, "value": "float64"})


def _comparable_keys(made: pd.DataFrame, labels: pd.DataFrame, keys: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``made`` and ``labels`` with every key column whose dtypes differ on the two sides put in a form
    pandas compares by value: tz-aware timestamps in UTC (any unit), dates and datetimes held as
    Python objects as ``datetime64``, other non-numeric values (text, uuids, categories) as ``str``.
    Numbers and equal dtypes are left alone."""
    for key in keys:
        if made[key].dtype != labels[key].dtype:
            made = made.assign(**{key: _key_values(made[key])})
            labels = labels.assign(**{key: _key_values(labels[key])})
    return made, labels


def _key_values(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype):
        return values
    present = values.dropna()
    if len(present) and all(isinstance(v, dt.date) for v in present.astype(object)):
        return pd.to_datetime(values.astype(object))
    return values.astype(object).map(str, na_action="ignore").astype("str")


def _check_columns(frame: pd.DataFrame, columns: list[str], allow_empty: bool = False) -> None:
    if len(frame) == 0 and not allow_empty:
        raise ValueError("the frame has no rows: no predictions to evaluate")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame lacks columns {missing}; it has {list(frame.columns)}")


def _check_values(labelled: pd.DataFrame, label: str, prediction: str, task: Task) -> None:
    labels = labelled[label]
    if task == BINARY_CLASSIFICATION:
        bad = labels[~labels.isin([0, 1])]
        if len(bad):
            raise ValueError(f"{label} must be 0/1 or bool; found {sorted(map(str, bad.unique()))[:5]}")
    else:
        values = pd.to_numeric(labels, errors="coerce").astype("float64")
        if not np.isfinite(values.to_numpy()).all():
            raise ValueError(f"{label} must be a finite number on every labelled row for {task}")
    predictions = pd.to_numeric(labelled[prediction], errors="coerce").astype("float64").to_numpy()
    if not np.isfinite(predictions).all():
        raise ValueError(f"{prediction} must be a finite number on every labelled row (missing or not numeric)")
    if task == BINARY_CLASSIFICATION and ((predictions < 0).any() or (predictions > 1).any()):
        raise ValueError(f"{prediction} must be a probability in [0, 1] on every labelled row (out of range)")
