"""Build the feature table for a time window from the warehouse, and snapshot it."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging

import pandas as pd

from pipeline.config import DatasetConfig
from pipeline.data.warehouse import Warehouse
from pipeline.errors import PermanentError

log = logging.getLogger(__name__)


class FeatureTableError(PermanentError, ValueError):
    """The feature query returned a malformed table; the message names what is wrong."""


def extract_feature_table(
    warehouse: Warehouse, dataset: DatasetConfig, start: dt.datetime, end: dt.datetime, require_label: bool
) -> pd.DataFrame:
    """Run the dataset's feature query for entities whose timestamp lies in ``[start, end)``.

    Args:
        warehouse: source database.
        dataset: the ``dataset`` config section (query file, key, timestamp, label, features).
        start, end: window bounds, timezone-aware; bound as ``%(start)s`` and ``%(end)s``.
        require_label: training batches need the label column; scoring batches do not.

    Returns:
        One row per entity: the key, timestamp, features and (if present) label columns, with the
        dtypes :meth:`Warehouse.read_frame` documents; categorical features are ``category``.

    Raises:
        FeatureTableError: ``start >= end``, or a configured column is missing from the result.
        WarehouseError: the query failed (a missing table, say).
    """
    if start >= end:
        raise FeatureTableError(f"empty window: start {start} is not before end {end}")
    frame = warehouse.read_frame(
        dataset.sql_path.read_text(), {"start": start, "end": end}, dataset.categorical_features
    )
    expected = [dataset.key, dataset.timestamp, *dataset.features] + ([dataset.label] if require_label else [])
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise FeatureTableError(
            f"{dataset.sql_path.name} returned no column(s) {missing}; it returned {list(frame.columns)}"
        )
    log.info("extracted %d rows x %d columns of %s for [%s, %s)", len(frame), frame.shape[1], dataset.name, start, end)
    return frame


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
