"""Realized performance: how good the predictions actually made were, once their labels arrived.

The metric functions are the ones the promotion rule uses (:data:`pipeline.models.evaluate.METRICS`,
scikit-learn underneath), so realized and holdout numbers are comparable. Pure: DataFrames in and out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from pipeline.metrics import CLASSIFICATION, REALIZED_METRICS, ROC_AUC
from pipeline.models.evaluate import METRICS

PERFORMANCE_COLUMNS = ["rows", "positives", *REALIZED_METRICS, "mean_score", "positive_rate"]
_RANKING = {m.name for m in CLASSIFICATION if m.ranking}


def performance_metrics(y_true: ArrayLike, score: ArrayLike) -> dict[str, float]:
    """Metrics of one group of labelled predictions.

    Args:
        y_true: shape (n,), 0/1 labels, n >= 1.
        score: shape (n,), predicted probability of class 1.

    Returns:
        ``rows`` and ``positives`` (int); ``roc_auc`` (NaN when the group has a single class, where it
        is undefined); ``brier`` (mean squared error of the probability); ``log_loss`` (natural log,
        labels fixed to [0, 1] so single-class groups work); ``mean_score`` and ``positive_rate``, whose
        gap is the calibration-in-the-large error.
    """
    y = np.asarray(y_true, dtype=int)
    p = np.asarray(score, dtype=float)
    single_class = np.unique(y).size < 2
    realized = {
        name: math.nan if single_class and name in _RANKING else float(METRICS[name][0](y, p))
        for name in REALIZED_METRICS
    }
    return {
        "rows": int(y.size),
        "positives": int(y.sum()),
        **realized,
        "mean_score": float(p.mean()),
        "positive_rate": float(y.mean()),
    }


def realized_performance(
    frame: pd.DataFrame, label: str, score: str = "score", by: Sequence[str] = ("day", "model_version")
) -> pd.DataFrame:
    """:func:`performance_metrics` per group of predictions joined with their realized labels.

    Args:
        frame: one row per prediction, with the ``label`` column (0/1 or bool; null while the label has
            not arrived, such rows are dropped), the ``score`` column (probability in [0, 1]) and the
            ``by`` columns.
        label: the realized label column.
        score: the predicted probability column.
        by: grouping columns, for example the prediction's day and the model version; empty for one
            overall row.

    Returns:
        One row per group that has labelled rows, sorted by ``by``: the ``by`` columns then
        :data:`PERFORMANCE_COLUMNS` (``rows``, ``positives`` int64; the rest float64). No rows when no
        label has arrived yet.

    Raises:
        ValueError: the frame is empty, a column is missing, a label is not 0/1, or a labelled row's
            score is missing or outside [0, 1].
    """
    by = list(by)
    _check_columns(frame, [label, score, *by])
    labelled = frame[frame[label].notna()]
    _check_values(labelled, label, score)
    groups = labelled.groupby(by, sort=True, dropna=False) if by else [((), labelled)]
    rows = [
        dict(zip(by, keys, strict=True)) | performance_metrics(group[label].astype(int), group[score])
        for keys, group in groups
        if len(group)
    ]
    dtypes = {"rows": "int64", "positives": "int64"} | {c: "float64" for c in PERFORMANCE_COLUMNS[2:]}
    return pd.DataFrame(rows, columns=[*by, *PERFORMANCE_COLUMNS]).astype(dtypes)


def realized_window(
    made: pd.DataFrame, labels: pd.DataFrame, key: str, timestamp: str, label: str
) -> tuple[pd.DataFrame, float | None]:
    """Realized performance of the predictions made over a monitoring window.

    Args:
        made: one row per prediction made for the window: ``key``, ``model_version`` (int),
            ``is_champion`` (bool) and ``score`` (probability); every champion prediction pooled,
            whichever version was champion when it was made.
        labels: the window's feature table as known now: ``key``, ``timestamp`` (tz-aware) and
            ``label`` (0/1, null while unknown); without a ``label`` column nothing is measured.
        key, timestamp, label: the dataset's column names.

    Returns:
        ``(performance, realized_roc_auc)``: :func:`realized_performance` per ``day`` (the entity's
        timestamp's date) and ``model_version`` in :func:`to_long` form (no rows while no label has
        arrived), and the ROC AUC of the labelled champion predictions pooled over the window (None
        without labelled champion predictions of both classes).
    """
    if label not in labels.columns:
        return pd.DataFrame(), None
    labelled = made.merge(labels[[key, timestamp, label]], on=key)
    labelled = labelled[labelled[label].notna()]
    if labelled.empty:
        return pd.DataFrame(), None
    labelled = labelled.assign(day=labelled[timestamp].dt.date, **{label: labelled[label].astype(int)})
    performance = to_long(realized_performance(labelled, label, by=["day", "model_version"]), ["day", "model_version"])
    live = labelled[labelled["is_champion"]]
    auc = performance_metrics(live[label], live["score"])[ROC_AUC] if live[label].nunique() == 2 else None
    return performance, auc


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


def _check_columns(frame: pd.DataFrame, columns: list[str], allow_empty: bool = False) -> None:
    if len(frame) == 0 and not allow_empty:
        raise ValueError("the frame has no rows: no predictions to evaluate")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame lacks columns {missing}; it has {list(frame.columns)}")


def _check_values(labelled: pd.DataFrame, label: str, score: str) -> None:
    labels = labelled[label]
    bad = labels[~labels.isin([0, 1])]
    if len(bad):
        raise ValueError(f"{label} must be 0/1 or bool; found {sorted(map(str, bad.unique()))[:5]}")
    scores = pd.to_numeric(labelled[score])
    if scores.isna().any() or (scores < 0).any() or (scores > 1).any():
        raise ValueError(f"{score} must be a probability in [0, 1] on every labelled row (missing or out of range)")
