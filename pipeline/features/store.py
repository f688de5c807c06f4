"""The offline store: the feature table's completed periods, computed once and kept in the warehouse.

A model may declare ``dataset.store`` (:class:`~pipeline.config.FeatureStoreConfig`). Then every
extraction (:func:`pipeline.features.build.extract_feature_table`) reads the periods of entity timestamps
that are final at its last cutoff (a period ``[s, e)`` once ``e + known_after`` is at or before it) from
the store table, and computes only the rest with the feature query. A weekly retrain over 63 days then
computes the days since the last one; the study's year is read, not recomputed. Feature platforms keep
their point-in-time join results the same way (Chronon's join backfills, stored per day partition and
computed only for the missing ones; Feast's and Tecton's offline stores).

A stored row is the feature query's row, computed by the same query with the same bind parameters, so
training and scoring still use one definition. It stays right as long as the sources of a final period do
not change: a correction after ``known_after`` is restated (``pipeline restate-aggregates``, which
forgets the store's periods from the restated start on, so they are computed again when next read).

:func:`read` stores the missing periods and reads, under the store's advisory lock, in one
transaction, and records each stored period in ``ml.aggregate_periods`` (under the store's table name) with its row
count and its definition (:func:`definition`): the SHA-256 of the feature query, the cutoff rule, the
aggregates it reads, the timestamp and key columns, the period grid and ``known_after``. When the
definition changes, the table is dropped and recreated from the query's columns, and every
period is computed again when next read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable

import pandas as pd
from psycopg2 import sql

from pipeline.config import DatasetConfig, FeatureStoreConfig
from pipeline.data.warehouse import Cursor, Warehouse, fetch, read_frame, statement
from pipeline.errors import PermanentError
from pipeline.features import aggregates
from pipeline.features.build import feature_query, feature_sql, window_params
from pipeline.schedule import CutoffRule

log = logging.getLogger(__name__)

ALL_TIME = (dt.datetime(1, 1, 1, tzinfo=dt.UTC), dt.datetime(9999, 1, 1, tzinfo=dt.UTC))
MARK = "pipeline offline store"
"""The comment on a store table the pipeline created: it drops and recreates no table without it."""


class StoreTableError(PermanentError, ValueError):
    """``dataset.store.table`` names a table the pipeline did not create; the message says which."""


def definition(dataset: DatasetConfig, rule: CutoffRule) -> str:
    """The SHA-256 (hex) of what a stored row depends on: the feature query's text, the cutoff rule bound to
    it (lead, horizon, origin), the definitions of the aggregates it reads, the timestamp and key columns
    the periods are cut and ordered by, and the store's period grid and ``known_after`` (``dataset.store``
    must be set)."""
    store = dataset.store
    parts = [feature_sql(dataset), str(rule.lead), str(rule.horizon), rule.origin.isoformat()]
    parts += [dataset.timestamp, *dataset.key]
    parts += [aggregates.definition(a) for a in dataset.aggregates]
    parts += [str(store.period), store.origin.isoformat(), str(store.known_after)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def stored_span(
    store: FeatureStoreConfig, rule: CutoffRule, start: dt.datetime, end: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """The periods of an extraction of ``[start, end)`` that the store holds, as ``[first, last)`` of their
    starts (UTC): from the period holding ``start`` to the last one final at the extraction's last cutoff.
    Empty (``first >= last``) when none is final yet, as for a predict run's window."""
    last_cutoff = rule.cutoff(end - dt.timedelta(microseconds=1))
    first = aggregates.floor(store, start)
    return first, min(aggregates.floor(store, last_cutoff - store.known_after), aggregates.floor(store, end))


def computed_from(dataset: DatasetConfig, rule: CutoffRule, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    """The earliest entity timestamp an extraction of ``[start, end)`` may compute: the first stored
    period's start when some period is final (a whole period is stored, even before ``start``), else
    ``start``. The aggregates must be current from its cutoff on."""
    if dataset.store is None:
        return start
    first, last = stored_span(dataset.store, rule, start, end)
    return first if first < last else start


def read(
    warehouse: Warehouse,
    dataset: DatasetConfig,
    rule: CutoffRule,
    start: dt.datetime,
    end: dt.datetime,
    gap: dt.datetime | None = None,
) -> pd.DataFrame:
    """The feature table of ``[start, end)``: the stored rows of its final periods, stored first if they
    are not yet (with the current definition), and the feature query's rows of the rest, in one statement,
    ordered by timestamp and key.

    The caller has brought the aggregates current for the cutoffs from :func:`computed_from` on. When some
    period is final, one transaction under the store's advisory lock stores the missing ones and reads:
    concurrent extractions wait, then find them stored, and no other run recreates the table in between.
    Runs of missing periods are computed by the feature query,
    :data:`~pipeline.features.aggregates.BUILD_CHUNK` periods per execution, and those with rows are
    recorded with their row counts (an empty period is computed again when next read, as an aggregate's
    period without source rows is built only once it has them).

    Args:
        warehouse: the warehouse holding the sources, the store table and ``ml``.
        dataset: the ``dataset`` section, with ``store`` set.
        rule: the model's cutoff rule, bound to the feature query.
        start, end: the extraction's window of entity timestamps, timezone-aware.
        gap: the first aggregate period the sources do not hold (``Refreshed.absent``), if any: nothing
            from its period on is stored, since rows there would read the gap.

    Returns:
        As :func:`pipeline.features.build.extract_feature_table` (before its column checks).

    Raises:
        StoreTableError: ``dataset.store.table`` exists and the pipeline did not create it.
        WarehouseError: a statement failed; the transaction is rolled back, so no period is half-stored
            or recorded.
    """
    store, categorical = dataset.store, dataset.categorical_features
    order = sql.SQL(", ").join(sql.Identifier(c) for c in [dataset.timestamp, *dataset.key])
    first, last = stored_span(store, rule, start, end)
    last = min(last, aggregates.floor(store, gap)) if gap is not None else last
    if first >= last:  # nothing final, as for a predict run's window
        return warehouse.read_frame(
            statement("store/ordered", query=feature_query(dataset), order=order),
            window_params(rule, start, end),
            categorical,
        )
    version = definition(dataset, rule)
    with warehouse.transaction() as cur:
        fetch(cur, "aggregates/lock", {"aggregate": store.name})
        records = fetch(cur, "aggregates/built", aggregates.bounds(store, *ALL_TIME))
        built = {r["period_start"] for r in records}
        if _recreate_if_stale(cur, dataset, rule, current={r["definition"] for r in records} == {version}):
            log.info("feature store %s: (re)created for definition %s", store.table, version[:12])
            built = set()
        todo = [p for p in aggregates.periods(store, first, last) if p not in built]
        if todo:
            from pipeline.features.batch import merge_spans  # batch imports build, which imports this module

            began, stored, step = time.perf_counter(), [], _builder(cur, dataset, rule)
            for lo, hi in merge_spans([(p, p + store.period) for p in todo]):
                run = aggregates.periods(store, lo, hi)
                aggregates.build_in_chunks(cur, store, run, step, version, stored, len(todo))
            log.info(
                "feature store %s: %d period(s) computed in %.1f s; [%s, %s) is read from it",
                store.table,
                len(todo),
                time.perf_counter() - began,
                start,
                last,
            )
        parts = {"table": store.table, "timestamp": sql.Identifier(dataset.timestamp), "order": order}
        params = {**window_params(rule, last, end), "store_start": start, "store_end": last}
        return read_frame(cur, statement("store/read", query=feature_query(dataset), **parts), params, categorical)


def forget(warehouse: Warehouse, store: FeatureStoreConfig, start: dt.datetime) -> int:
    """Forget the store's periods from ``known_after`` before ``start`` on, under its lock, so the next
    extractions compute them again from the sources as they are then. After a restatement of the facts
    known from ``start`` on, any later row may read them (a feature known by its cutoff), and so may a
    row up to ``known_after`` earlier (its label, observed late). Returns how many recorded periods were
    forgotten.

    Raises:
        WarehouseError: a statement failed; nothing is forgotten.
    """
    first = aggregates.floor(store, start - store.known_after)
    with warehouse.transaction() as cur:
        fetch(cur, "aggregates/lock", {"aggregate": store.name})
        cur.execute(statement("aggregates/forget"), aggregates.bounds(store, first, ALL_TIME[1]))
        return cur.rowcount


def _recreate_if_stale(cur: Cursor, dataset: DatasetConfig, rule: CutoffRule, current: bool) -> bool:
    """Drop and recreate the store table, forgetting its periods, when it is missing or its records are not
    ``current`` (none, after a reseed, or some built with another definition). Returns whether it did."""
    store = dataset.store
    [table] = fetch(cur, "store/owner", {"table": store.table})
    if table["present"] and table["comment"] != MARK:
        raise StoreTableError(
            f"dataset.store.table: {store.table} exists and is not an offline store the pipeline created (its "
            f"comment is not {MARK!r}); the pipeline drops and recreates its store, so name a table of its own"
        )
    if table["present"] and current:
        return False
    cur.execute(statement("aggregates/forget"), aggregates.bounds(store, *ALL_TIME))
    cur.execute(
        statement(
            "store/create",
            schema=sql.Identifier(store.table.split(".")[0]),
            table=store.table,
            timestamp=sql.Identifier(dataset.timestamp),
            query=feature_query(dataset),
            comment=sql.Literal(MARK),
        ),
        window_params(rule, store.origin, store.origin),
    )
    return True


def _builder(
    cur: Cursor, dataset: DatasetConfig, rule: CutoffRule
) -> Callable[[dt.datetime, dt.datetime], dict[dt.datetime, int]]:
    """:func:`~pipeline.features.aggregates.build_in_chunks`'s step for the store: compute and store the
    feature query's rows of ``[start, end)`` on ``cur``, and return the rows stored per period start."""
    store = dataset.store
    parts = {"table": store.table, "timestamp": sql.Identifier(dataset.timestamp)}

    def step(start: dt.datetime, end: dt.datetime) -> dict[dt.datetime, int]:
        cur.execute(statement("store/build", query=feature_query(dataset), **parts), window_params(rule, start, end))
        rows = fetch(cur, "store/rows", aggregates.bounds(store, start, end), **parts)
        return {r["period_start"].astimezone(dt.UTC): r["n"] for r in rows}

    return step
