"""Batch scoring and the idempotent write of one data interval's predictions."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from pipeline.config import DatasetConfig, PredictionsConfig
from pipeline.data.warehouse import Warehouse, fetch, statement, write_frame
from pipeline.models.train import predict_proba

log = logging.getLogger(__name__)

# The predictions table's key column type, by the pandas dtype of the dataset's key.
_KEY_TYPES = {"i": "bigint", "u": "bigint", "O": "text"}


def score(pipeline: Pipeline, frame: pd.DataFrame, dataset: DatasetConfig, threshold: float) -> pd.DataFrame:
    """Score every row of a feature-table batch.

    Returns:
        Columns ``<key>`` (as in ``frame``), ``score`` (float64 probability of class 1) and
        ``predicted_label`` (int16: 1 when score >= ``threshold``), one row per input row.
    """
    probability = predict_proba(pipeline, frame, dataset)
    return pd.DataFrame(
        {
            dataset.key: frame[dataset.key].to_numpy(),
            "score": probability,
            "predicted_label": (probability >= threshold).astype(np.int16),
        }
    )


def key_type(frame: pd.DataFrame, key: str) -> str:
    """The SQL type for the predictions table's key column, from the key's pandas dtype."""
    return _KEY_TYPES.get(frame[key].dtype.kind, "text")


def ensure_table(warehouse: Warehouse, predictions: PredictionsConfig, key: str, sql_key_type: str) -> None:
    """Create the predictions table and its views ``<table>_latest`` (newest champion prediction per
    entity) and ``<table>_shadow_comparison`` (champion against each shadow challenger per interval)."""
    from psycopg2 import sql

    warehouse.run(
        "ml/predictions_schema",
        schema=sql.Identifier(predictions.schema_name),
        table=predictions.table,
        latest_view=f"{predictions.table}_latest",
        comparison_view=f"{predictions.table}_shadow_comparison",
        key=sql.Identifier(key),
        key_type=sql.SQL(sql_key_type),
    )


def write_predictions(
    warehouse: Warehouse,
    predictions: PredictionsConfig,
    scored: pd.DataFrame,
    *,
    model_name: str,
    start: dt.datetime,
    end: dt.datetime,
    run_id: str,
) -> int:
    """Replace all predictions of ``model_name`` for the interval ``[start, end)`` with ``scored``.

    One transaction: an advisory lock on (table, model, interval), COPY of the batch into a temp
    table, DELETE of the interval's previous rows, INSERT of the new ones. A rerun, retry or
    backfill of the interval therefore never duplicates rows, and readers never see half a batch.
    ``predicted_at`` defaults to the transaction's timestamp (audit metadata, not data logic).

    Args:
        scored: rows of :func:`score` for every version that scored the interval, with added columns
            ``model_version`` (int) and ``is_champion`` (bool).

    Returns:
        Rows written.

    Raises:
        WarehouseError: any statement failed; the previous rows are then untouched.
    """
    batch = scored.assign(model_name=model_name, data_interval_start=start, data_interval_end=end, run_id=run_id)
    lock = f"{predictions.table}:{model_name}:{start.isoformat()}:{end.isoformat()}"
    with warehouse.transaction() as cur:
        fetch(cur, "ml/advisory_lock", {"lock_key": lock})
        cur.execute(statement("ml/predictions_staging", table=predictions.table))
        write_frame(cur, batch, "predictions_staging")
        cur.execute(
            statement("ml/predictions_swap", table=predictions.table),
            {"model_name": model_name, "start": start, "end": end},
        )
    versions = sorted(scored["model_version"].unique().tolist())
    log.info(
        "wrote %d predictions of %s %s for [%s, %s) to %s",
        len(scored),
        model_name,
        versions,
        start,
        end,
        predictions.table,
    )
    return len(scored)
