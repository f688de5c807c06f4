"""A model's predictions table: its names, DDL and columns, the staging of a run's partitions, and
their atomic publish under the model's lock.

The table (with its staging table and views) is created at the head shape by the model's first predict
run (:func:`pipeline.data.schema.provision_predictions`, from :func:`predictions_ddl`). A predict run
stages each scored partition (:func:`stage_partition`), then publishes them in one transaction
(:func:`publish`). The SQL is ``sql/migrations/predictions_*.sql`` and ``sql/ml/predictions_*.sql``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

import pandas as pd
from psycopg2 import sql

from pipeline.config import PREDICTION_OUTPUTS, PREDICTION_RUN_COLUMNS, PredictionsConfig
from pipeline.data.warehouse import Warehouse, fetch, statement

log = logging.getLogger(__name__)


def column_names(key: list[str], task: str) -> list[str]:
    """The columns of a predictions table, in order: the entity ``key``, the ``task``'s outputs, then
    the run's identity (:data:`~pipeline.config.PREDICTION_RUN_COLUMNS`)."""
    return [*key, *PREDICTION_OUTPUTS[task], *PREDICTION_RUN_COLUMNS]


def table_names(predictions: PredictionsConfig, key: list[str]) -> dict[str, sql.Composable | str]:
    """The identifiers of a model's predictions table, its staging table, index and views, for the
    statements that create, fill and read them; ``key`` is the entity key's columns."""
    return {
        "schema": sql.Identifier(predictions.schema_name),
        "table": predictions.table,
        "staging": f"{predictions.table}_staging",
        "staging_index": sql.Identifier(f"{predictions.table_name}_staging_run"),
        "entity_index": sql.Identifier(f"{predictions.table_name}_entity"),
        "latest_view": f"{predictions.table}_latest",
        "comparison_view": f"{predictions.table}_shadow_comparison",
        "key": sql.SQL(", ").join(map(sql.Identifier, key)),
    }


def predictions_ddl(predictions: PredictionsConfig, key_types: dict[str, str], task: str) -> sql.Composed:
    """The statements that create a predictions table at the head shape (``IF NOT EXISTS``), with its
    staging table and views.

    Args:
        key_types: the entity key's columns, in order, -> their PostgreSQL type names (``bigint``,
            ``text``, ``uuid``, ``date``, ``timestamp with time zone``...), as the feature query returns them.
        task: ``binary_classification`` or ``regression``: which output columns the table has.
    """
    key = list(key_types)
    return statement(
        "migrations/predictions_tables",
        **table_names(predictions, key),
        key_columns=sql.SQL(",\n    ").join(
            sql.SQL("{} {} NOT NULL").format(sql.Identifier(c), sql.SQL(t)) for c, t in key_types.items()
        ),
        output_columns=statement(f"migrations/predictions_outputs_{task}"),
        key_join=sql.SQL(" AND ").join(sql.SQL("s.{0} = c.{0}").format(sql.Identifier(c)) for c in key),
    )


class IncompleteRunError(RuntimeError):
    """Publishing found other staged partitions or rows than the run's scoring reported: a partition
    has not been scored yet."""


def publish_lock_key(predictions: PredictionsConfig, model_name: str) -> str:
    """The advisory lock key (``sql/ml/advisory_lock.sql``) under which one model's predictions are
    published: ``predictions:<table>:<model>``. One per model, not per interval, because intervals that
    overlap replace each other's rows (see :func:`publish`)."""
    return f"predictions:{predictions.table}:{model_name}"


def stage_partition(
    warehouse: Warehouse,
    predictions: PredictionsConfig,
    key: list[str],
    chunks: Iterable[pd.DataFrame],
    *,
    model_name: str,
    start: dt.datetime,
    end: dt.datetime,
    run_id: str,
    partition: int,
    partitions: int,
    window: tuple[dt.datetime, dt.datetime],
) -> int:
    """Write one partition's predictions to the staging table, replacing what this run staged for
    that partition before (so a retried partition is idempotent) and for partition numbers
    ``>= partitions`` (left by an earlier attempt of the run planned with more partitions, so that a
    rerun with another partitioning publishes only its own rows). One bulk write per chunk, one
    transaction.

    Args:
        chunks: frames of scored rows (the key columns and the task's outputs), with added
            ``model_version`` (int) and ``is_champion`` (bool), for every version that scored the
            partition; none for an empty partition (which then only clears).
        partition, partitions: this partition's number, ``0..partitions-1``, and the plan's count.
        window: the scored window ``[T + lead, T + lead + horizon)``; ``end`` (T) is recorded as ``as_of``.

    Returns:
        Rows staged.

    Raises:
        WarehouseError: any statement failed; the partition's previous staged rows are then untouched.
    """
    ids = {
        "model_name": model_name,
        "start": start,
        "end": end,
        "run_id": run_id,
        "partition": partition,
        "partitions": partitions,
    }
    names = table_names(predictions, key)
    rows = 0
    with warehouse.bulk() as session:
        session.execute("ml/predictions_stage_clear", ids, staging=names["staging"])
        for chunk in chunks:
            batch = chunk.assign(
                model_name=model_name,
                data_interval_start=start,
                data_interval_end=end,
                as_of=end,
                window_start=window[0],
                window_end=window[1],
                run_id=run_id,
                partition=partition,
            )
            rows += session.write_frame(batch, names["staging"])
    return rows


def publish(
    warehouse: Warehouse,
    predictions: PredictionsConfig,
    key: list[str],
    task: str,
    *,
    model_name: str,
    start: dt.datetime,
    end: dt.datetime,
    run_id: str,
    partitions: int,
    rows: int,
    batch: str,
    batch_rows: int,
    window: tuple[dt.datetime, dt.datetime],
) -> int:
    """Replace the predictions of ``model_name`` for the entities of ``[start, end)`` with what run
    ``run_id`` staged, and record the feature batch they were scored from in ``ml.served_batches``.

    Removed are every row of the model for an entity staged now, whichever interval wrote it (a
    2-day run over daily ones, an hour inside a published day), and every row published before for
    exactly ``[start, end)`` (entities gone from the source since). So an entity has one row per
    model version however intervals are cut, and a rerun, retry or backfill never duplicates rows.

    One transaction under the model's advisory lock (:func:`publish_lock_key`): check the staged
    rows against what scoring reported, delete, insert the staged rows, clear them from staging,
    record the batch.
    Publishes of one model wait for each other (logged): two runs of one interval both succeed, the
    later one's rows replace the earlier's. Readers never see half a batch.

    Args:
        partitions: partitions that staged rows (the plan's, minus empty ones).
        rows: predictions the run's partitions staged, all versions (sum of their counts).
        batch, batch_rows, window: the run's feature batch (its manifest's artifact key), its entities,
            and the scored window they lie in.

    Returns:
        Rows published.

    Raises:
        IncompleteRunError: the staged partitions or rows differ from ``partitions`` / ``rows``;
            nothing is changed.
        WarehouseError: any statement failed; the previous rows are then untouched.
    """
    ids = {"model_name": model_name, "start": start, "end": end, "run_id": run_id}
    names = table_names(predictions, key)
    lock = {"lock_key": publish_lock_key(predictions, model_name)}
    entity_join = sql.SQL(" AND ").join(sql.SQL("t.{0} = s.{0}").format(sql.Identifier(c)) for c in key)
    with warehouse.transaction() as cur:
        if not fetch(cur, "ml/advisory_try_lock", lock)[0]["acquired"]:
            log.info("another run is publishing %s predictions to %s: waiting for it", model_name, predictions.table)
            fetch(cur, "ml/advisory_lock", lock)
        staged = fetch(cur, "ml/predictions_staged", ids, staging=names["staging"])[0]
        if (staged["partitions"], staged["row_count"]) != (partitions, rows):
            raise IncompleteRunError(
                f"run {run_id} staged {staged['row_count']} predictions in {staged['partitions']} of {partitions} "
                f"partitions for [{start}, {end}), its scoring reported {rows}: score the missing partitions, "
                "then publish again"
            )
        columns = sql.SQL(", ").join(map(sql.Identifier, column_names(key, task)))
        publish_sql = statement(
            "ml/predictions_publish",
            table=names["table"],
            staging=names["staging"],
            columns=columns,
            key=names["key"],
            entity_join=entity_join,
        )
        cur.execute(publish_sql, ids)
        served = {"manifest": batch, "batch_rows": batch_rows, "window_start": window[0], "window_end": window[1]}
        cur.execute(statement("ml/served_batch_upsert"), ids | served)
    log.info(
        "published %d predictions of %s for [%s, %s) to %s",
        staged["row_count"],
        model_name,
        start,
        end,
        predictions.table,
    )
    return staged["row_count"]
