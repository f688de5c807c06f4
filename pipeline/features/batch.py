"""A predict run's feature batch: the feature table of its scored window, computed once by planning and
kept in the artifact store as one Parquet file per hash partition plus a manifest.

Every scoring partition reads its own file and nothing else, so the feature query runs once per run
whatever the number of partitions or workers, and what was scored is what was kept. The layout, below
the run's folder (``runs/<dag id>/<run id>/``)::

    features/<batch id>/manifest.json
    features/<batch id>/part-00001-of-00004.parquet
    ...

A batch id is new for every planning attempt: a retried or re-planned run writes a new batch, and the
partitions of two attempts never mix (each scored partition names its batch; publish checks them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypedDict

import pandas as pd

from pipeline.data.artifacts import ArtifactError, ArtifactStore
from pipeline.data.warehouse import Warehouse
from pipeline.errors import PermanentError
from pipeline.features.build import from_parquet, to_parquet

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
# The folder of a run's feature batches, below the run's folder (``runs/<dag id>/<run id>/``).
BATCH_FOLDER = "features"


class FeatureBatchError(PermanentError, ValueError):
    """A batch file's bytes differ from those its manifest registered (tampering or corruption), or a
    partition is not in the batch."""


class BatchFile(TypedDict):
    """One partition's file: its artifact key, rows and the SHA-256 (hex) of its bytes."""

    partition: int
    key: str
    rows: int
    sha256: str


class FeatureBatch(TypedDict):
    """A batch's manifest, as stored (``manifest`` is its own key). Times are ISO 8601 strings."""

    manifest: str
    model_name: str
    run_id: str
    cutoff: str
    window_start: str
    window_end: str
    feature_sql_sha256: str
    rows: int
    partitions: int
    files: list[BatchFile]


def hash_partitions(frame: pd.DataFrame, key: list[str], partitions: int) -> pd.Series:
    """The hash partition (``0..partitions-1``, int64, aligned with ``frame``) of every row, by its key
    columns: pandas' ``hash_pandas_object`` (SipHash with a fixed key: the same in every process and
    on every host) modulo ``partitions``. Partitions are disjoint and together hold every row."""
    hashes = pd.util.hash_pandas_object(frame[key], index=False)  # indexed like frame
    return (hashes % partitions).astype("int64")


def write_batch(
    store: ArtifactStore,
    prefix: str,
    frame: pd.DataFrame,
    key: list[str],
    partitions: int,
    *,
    model_name: str,
    run_id: str,
    cutoff: dt.datetime,
    window: tuple[dt.datetime, dt.datetime],
    feature_sql: str,
) -> FeatureBatch:
    """Split ``frame`` (one row per entity) into ``partitions`` hash partitions by ``key``
    (:func:`hash_partitions`), write each as Parquet under ``prefix`` (a new, attempt-unique folder),
    then the manifest last: a batch without its manifest was never handed to scoring.

    Returns:
        The manifest (:class:`FeatureBatch`); an empty partition has a file of zero rows.

    Raises:
        ArtifactError: the store cannot be written (the keys are new: an existing key fails too).
    """
    slots = hash_partitions(frame, key, partitions)
    files = []
    for partition in range(partitions):
        part = frame[slots == partition].reset_index(drop=True)
        data, digest = to_parquet(part)
        file_key = f"{prefix}/part-{partition + 1:05d}-of-{partitions:05d}.parquet"
        store.put(file_key, data)
        files.append(BatchFile(partition=partition, key=file_key, rows=len(part), sha256=digest))
    batch = FeatureBatch(
        manifest=f"{prefix}/{MANIFEST_FILE}",
        model_name=model_name,
        run_id=run_id,
        cutoff=cutoff.isoformat(),
        window_start=window[0].isoformat(),
        window_end=window[1].isoformat(),
        feature_sql_sha256=hashlib.sha256(feature_sql.encode()).hexdigest(),
        rows=len(frame),
        partitions=partitions,
        files=files,
    )
    store.put(batch["manifest"], json.dumps(batch, indent=2).encode())
    log.info("feature batch %s: %d rows in %d partition file(s)", batch["manifest"], len(frame), partitions)
    return batch


def read_manifest(store: ArtifactStore, manifest: str) -> FeatureBatch:
    """The manifest stored at key ``manifest``. Raises ArtifactError when it cannot be read."""
    return json.loads(store.get(manifest))


def read_files(store: ArtifactStore, manifest: str) -> Iterator[pd.DataFrame]:
    """Every partition file of the batch at key ``manifest``, one at a time (:func:`read_partition`).
    Raises ArtifactError or FeatureBatchError as it does."""
    for file in read_manifest(store, manifest)["files"]:
        yield read_partition(store, file)


def read_partition(store: ArtifactStore, file: BatchFile) -> pd.DataFrame:
    """One partition's rows, after checking the file's bytes against its registered SHA-256.

    Returns:
        The partition's feature table, as planning wrote it (same columns and dtypes).

    Raises:
        FeatureBatchError: the bytes differ from those registered; nothing is returned.
        ArtifactError: the file cannot be read.
    """
    data = store.get(file["key"])
    digest = hashlib.sha256(data).hexdigest()
    if digest != file["sha256"]:
        raise FeatureBatchError(f"{file['key']}: SHA-256 {digest} differs from the batch's {file['sha256']}")
    return from_parquet(data)


def served_features(
    warehouse: Warehouse,
    store: ArtifactStore,
    model_name: str,
    key: list[str],
    entities: list[str],
    *,
    run_id: str | None = None,
    as_of: dt.datetime | None = None,
) -> tuple[dict, pd.DataFrame]:
    """The features a published predict run scored the given entities with, read back from its feature
    batch (``ml.served_batches``), whatever the sources hold now.

    Args:
        key: the dataset's key columns.
        entities: one string per entity: its key's values in ``key`` order, joined by commas, each as
            pandas prints it (``1234``; ``EWR,2013-03-12 11:00:00+00:00``).
        run_id, as_of: the run, or its cutoff (the run published last for it); one of them.

    Returns:
        The ``ml.served_batches`` row, and the entities' rows of the batch (the batch's columns; none
        for an entity the run did not score). Memory is bounded by one partition file at a time.

    Raises:
        FeatureBatchError: no published run matches, or a file's bytes differ from its manifest's.
        ArtifactError: the batch cannot be read (cleaned up, say).
    """
    rows = warehouse.fetch("ml/served_batch_find", {"model_name": model_name, "run_id": run_id, "as_of": as_of})
    if not rows:
        raise FeatureBatchError(f"no published predict run of {model_name} for run_id={run_id}, as_of={as_of}")
    wanted = set(entities)
    found = []
    for frame in read_files(store, rows[0]["manifest"]):
        ids = frame[key].astype(str).agg(",".join, axis=1) if len(frame) else pd.Series(dtype=str)
        found.append(frame[ids.isin(wanted)])
    return rows[0], pd.concat(found, ignore_index=True)


Span = tuple[dt.datetime, dt.datetime]


@dataclass(frozen=True)
class ServedWindow:
    """The feature rows a model's published predict runs scored inside a window, read back from their
    batches.

    - ``rows``: one row per entity (the batches' columns and dtypes), from the latest published batch
      that holds it; empty (no columns) when no batch was read;
    - ``batches``: the ``ml.served_batches`` rows read (``run_id``, ``as_of``, ``window_start``,
      ``window_end``, ``manifest``, ``rows``, ``published_at``), latest published first;
    - ``unreadable``: the manifests of the batches that could not be read (cleaned up from the store),
      left out;
    - ``spans``: the scored windows of the batches read, merged and sorted: the time they cover.
    """

    rows: pd.DataFrame
    batches: list[dict]
    unreadable: list[str]
    spans: list[Span]


def served_window(
    warehouse: Warehouse,
    store: ArtifactStore,
    model_name: str,
    key: list[str],
    start: dt.datetime,
    end: dt.datetime,
) -> ServedWindow:
    """The feature rows the published predict runs of ``model_name`` whose scored window lies inside
    ``[start, end)`` scored (``sql/ml/served_batches_in_window.sql``), whatever the sources hold now.

    Where two runs scored one entity (overlapping windows, or reruns of a cutoff under other run ids),
    the row of the latest published is kept: the one its prediction row comes from. A batch whose
    manifest or a file cannot be read (an ``ArtifactError``: cleaned up, say) is left out whole and
    named in ``unreadable``.

    Raises:
        FeatureBatchError: a file's bytes differ from those its manifest registered.
        WarehouseError: the served batches cannot be listed.
    """
    params = {"model_name": model_name, "start": start, "end": end}
    found = warehouse.fetch("ml/served_batches_in_window", params)
    kept, read, unreadable = [], [], []
    for batch in found:  # latest published first
        try:
            frames = [frame for frame in read_files(store, batch["manifest"]) if len(frame)]
        except ArtifactError as exc:
            log.warning("served batch of run %s left out, unreadable: %s", batch["run_id"], exc)
            unreadable.append(batch["manifest"])
            continue
        kept += frames
        read.append(batch)
    rows = pd.concat(kept, ignore_index=True).drop_duplicates(key, ignore_index=True) if kept else pd.DataFrame()
    return ServedWindow(rows, read, unreadable, merge_spans([(b["window_start"], b["window_end"]) for b in read]))


def merge_spans(spans: list[Span]) -> list[Span]:
    """``[lo, hi)`` spans merged where they overlap or touch, sorted by start."""
    merged: list[Span] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged
