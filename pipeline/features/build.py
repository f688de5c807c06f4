"""Build the feature table for a time window from the warehouse, and snapshot it."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging

import pandas as pd
from psycopg2 import sql

from pipeline.config import DatasetConfig
from pipeline.data.warehouse import Warehouse, statement
from pipeline.errors import PermanentError
from pipeline.features.aggregates import refresh
from pipeline.schedule import CUTOFF_COLUMN, CutoffRule

log = logging.getLogger(__name__)


class FeatureTableError(PermanentError, ValueError):
    """The feature query returned a malformed table; the message names what is wrong."""


def extract_feature_table(
    warehouse: Warehouse,
    dataset: DatasetConfig,
    rule: CutoffRule,
    start: dt.datetime,
    end: dt.datetime,
    require_label: bool,
) -> pd.DataFrame:
    """Run the dataset's feature query for entities whose timestamp lies in ``[start, end)``, each
    row's features as of its own cutoff (``rule``; returned as column ``as_of``).

    Args:
        warehouse: source database.
        dataset: the ``dataset`` config section (query file, key, timestamp, label, features).
        rule: the model's cutoff rule (``PipelineConfig.cutoff_rule``), bound as ``%(lead)s``,
            ``%(horizon)s`` and ``%(origin)s``.
        start, end: bounds of the entities' timestamps, timezone-aware; bound as ``%(start)s`` and
            ``%(end)s``.
        require_label: training batches need the label column; scoring batches do not.

    Returns:
        One row per entity: the key, timestamp, ``as_of``, features and (if present) label and
        ``dataset.label_known_at`` columns, with the
        dtypes :meth:`Warehouse.read_frame` documents; categorical features are ``category``.

    The model's declared aggregates (``dataset.aggregates``) are brought current for the window's
    cutoffs first (:func:`pipeline.features.aggregates.refresh`). With an offline store
    (``dataset.store``), the window's final periods are stored if they are not yet and read from it, and
    only the rest is computed (:mod:`pipeline.features.store`).

    Raises:
        FeatureTableError: ``start >= end``, or a configured column is missing from the result.
        MissingSourcePeriodError: the window has rows, and the sources hold no rows for a period an
            aggregate the features read needs.
        StoreTableError: ``dataset.store.table`` exists and the pipeline did not create it.
        WarehouseError: the query failed (a missing table, say).
    """
    if start >= end:
        raise FeatureTableError(f"empty window: start {start} is not before end {end}")
    from pipeline.features import store  # store imports this module

    first = store.computed_from(dataset, rule, start, end)  # the first stored period may begin before start
    refreshed = refresh(warehouse, dataset.aggregates, *window_cutoffs(rule, first, end))
    if dataset.store is None:
        params = window_params(rule, start, end)
        frame = warehouse.read_frame(feature_query(dataset), params, dataset.categorical_features)
    else:
        gap = min((p for r in refreshed for p in r.absent), default=None)
        frame = store.read(warehouse, dataset, rule, start, end, gap)
    if len(frame):
        for aggregate in refreshed:
            aggregate.check()
    expected = [*dataset.key, dataset.timestamp, CUTOFF_COLUMN, *dataset.features]
    expected += [dataset.label, dataset.label_known_at] if require_label else []
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise FeatureTableError(
            f"{dataset.sql_path.name} returned no column(s) {missing}; it returned {list(frame.columns)}"
        )
    log.info("extracted %d rows x %d columns of %s for [%s, %s)", len(frame), frame.shape[1], dataset.name, start, end)
    return frame


class CutoffMismatchError(PermanentError, ValueError):
    """A scored row's ``as_of`` is not the run's cutoff: the predict schedule and the cutoff rule
    (``predictions.lead``/``horizon``, ``schedule``) disagree, or the feature query computes ``as_of``
    another way."""


def check_cutoff(frame: pd.DataFrame, cutoff: dt.datetime, window: tuple[dt.datetime, dt.datetime]) -> None:
    """Check that every row of a scoring batch is as of the run's cutoff.

    Args:
        frame: a feature table of the entities in ``window`` (column ``as_of``, timestamptz).
        cutoff: the run's cutoff T (its data interval's end), timezone-aware.
        window: the scored window ``[T + lead, T + lead + horizon)``, for the message.

    Raises:
        CutoffMismatchError: some row's ``as_of`` differs from ``cutoff``; the message counts them and
            names the first ones.
    """
    wrong = frame[frame[CUTOFF_COLUMN] != cutoff] if len(frame) else frame
    if len(wrong):
        seen = ", ".join(str(t) for t in sorted(wrong[CUTOFF_COLUMN].drop_duplicates())[:3])
        raise CutoffMismatchError(
            f"{len(wrong)} of {len(frame)} rows in the scored window [{window[0]}, {window[1]}) are as of {seen}, "
            f"not the run's cutoff {cutoff}: the schedule and the cutoff rule disagree. A run's data interval "
            "must end at a tick of schedule.predict (the cutoff rule's origin is schedule.start_date at 00:00 in "
            "schedule.timezone), and the feature query must compute as_of with the bound lead, horizon and origin"
        )


def feature_query(dataset: DatasetConfig) -> sql.Composable:
    """The dataset's feature query (bind parameters ``start``, ``end``, ``lead``, ``horizon``,
    ``origin``)."""
    return sql.SQL(feature_sql(dataset))


def feature_sql(dataset: DatasetConfig) -> str:
    """The text of the dataset's feature query, as run (the file without a trailing semicolon)."""
    return dataset.sql_path.read_text().strip().rstrip(";")


def window_cutoffs(rule: CutoffRule, start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The first and last cutoff (as_of) of the entities stamped in ``[start, end)``."""
    return rule.cutoff(start), rule.cutoff(end - dt.timedelta(microseconds=1))


def window_params(rule: CutoffRule, start: dt.datetime, end: dt.datetime) -> dict:
    """Bind parameters of :func:`feature_query`: the entity window and the cutoff rule."""
    return {"start": start, "end": end, "lead": rule.lead, "horizon": rule.horizon, "origin": rule.origin}


def count_entities(
    warehouse: Warehouse, dataset: DatasetConfig, rule: CutoffRule, start: dt.datetime, end: dt.datetime
) -> int:
    """How many rows the feature query returns for ``[start, end)``, counted by the warehouse."""
    with warehouse.transaction() as cur:
        cur.execute(statement("io/count_query", query=feature_query(dataset)), window_params(rule, start, end))
        return cur.fetchone()[0]


def to_parquet(frame: pd.DataFrame) -> tuple[bytes, str]:
    """Serialise ``frame`` to Parquet. Returns the bytes and their SHA-256 (hex), the snapshot's
    identity in the registry."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def from_parquet(data: bytes) -> pd.DataFrame:
    """Read a snapshot written by :func:`to_parquet`, dtypes included."""
    return pd.read_parquet(io.BytesIO(data))
