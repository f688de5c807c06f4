"""The cleanup DAG's stage: remove, after a configured age, what runs left behind.

- **Staged predictions** of predict runs that crashed before publishing: rows of the model's staging
  table staged more than ``retention.staging_hours`` ago (a publish clears its own rows at once).
- **Run-scoped files** under ``runs/<dag id>/<run id>/`` of the model's DAGs (training batches, results
  of runs killed before they were recorded) written more than ``retention.run_artifacts_days`` ago,
  except any file a registry or validation record points at. A predict run's feature batches (its
  ``features/`` folder, which the monitor reads) go after ``retention.served_features_days`` instead,
  never less than the model's monitoring windows (:attr:`PipelineConfig.served_features_days`).
- **Versions left pending** by a killed retrain: ``pending`` more than ``training.pending_timeout_hours``
  after they were reserved. They are marked ``failed`` with the reason, so they are never served.

A registered version's artifacts (``<model name>/<version>/``) are never removed: cleanup lists only
``runs/``, and skips every URI the registry references even there.

Ages count back from the run's data interval end (``as_of``), so a rerun of the same interval removes
the same things; the leftovers' own times are wall-clock times (when a row was staged, a file
written, a version reserved).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TypedDict

from pipeline.stages.runtime import Runtime

log = logging.getLogger(__name__)

# The DAG kinds whose runs write run-scoped files (``runs/<kind>__<model>/``).
RUN_KINDS = ("retrain", "predict", "monitor")


class Cleaned(TypedDict):
    """What one model's cleanup removed (counts) and which versions it marked failed."""

    model_name: str
    as_of: str
    staging_rows: int
    run_files: int
    run_files_kept: int
    failed_versions: list[int]


def run(rt: Runtime) -> Cleaned:
    """Clean one model's leftovers older than the configured ages, as of the data interval's end.

    Returns:
        :class:`Cleaned`: rows deleted from the staging table, run files removed, old run files kept
        because a record points at them, and the versions marked failed.

    Raises:
        WarehouseError, ArtifactError: the warehouse or the store refused; what was removed stays removed,
            and a rerun goes on from there.
    """
    cfg, as_of = rt.cfg, rt.ctx.end
    name = cfg.model.name
    failed = [
        row["version"]
        for row in _fail_stale_pending(rt, as_of - dt.timedelta(hours=cfg.training.pending_timeout_hours))
    ]
    staging_rows = clean_staging(rt, as_of - dt.timedelta(hours=cfg.retention.staging_hours))
    removed, kept = clean_run_files(
        rt,
        as_of - dt.timedelta(days=cfg.retention.run_artifacts_days),
        as_of - dt.timedelta(days=cfg.served_features_days),
    )
    log.info(
        "cleanup of %s as of %s: %d staged prediction row(s) deleted, %d run file(s) removed (%d old ones kept: "
        "referenced), version(s) marked failed: %s",
        name,
        as_of.isoformat(),
        staging_rows,
        removed,
        kept,
        failed or "none",
    )
    return Cleaned(
        model_name=name,
        as_of=as_of.isoformat(),
        staging_rows=staging_rows,
        run_files=removed,
        run_files_kept=kept,
        failed_versions=failed,
    )


def _fail_stale_pending(rt: Runtime, cutoff: dt.datetime) -> list[dict]:
    from pipeline.models import registry

    return registry.fail_stale_pending(rt.warehouse, rt.cfg.model.name, cutoff, rt.ctx.actor)


def clean_staging(rt: Runtime, cutoff: dt.datetime) -> int:
    """Delete the model's staged predictions staged before ``cutoff``; returns rows deleted (0 when
    the model has not predicted yet, so has no staging table)."""
    from pipeline.data.predictions import table_names

    staging = table_names(rt.cfg.predictions, rt.cfg.dataset.key)["staging"]
    if not rt.warehouse.table_exists(staging):
        return 0
    rows = rt.warehouse.fetch(
        "ml/cleanup_staging", {"model_name": rt.cfg.model.name, "cutoff": cutoff}, staging=staging
    )[0]["row_count"]
    if rows:
        log.info("deleted %d staged prediction row(s) from %s staged before %s", rows, staging, cutoff.isoformat())
    return rows


def clean_run_files(rt: Runtime, cutoff: dt.datetime, served_cutoff: dt.datetime) -> tuple[int, int]:
    """Remove the files under ``runs/<dag id>/`` of the model's DAGs last written before ``cutoff``
    (files of predict runs' feature batches: before ``served_cutoff``), except those a registry or
    validation record references (:func:`referenced`).

    Returns:
        ``(removed, kept)``: files removed, and files older than the cutoff kept because referenced.
    """
    protected = referenced(rt)
    removed = kept = 0
    for kind in RUN_KINDS:
        prefix = f"runs/{rt.cfg.dag_id(kind)}/"
        old = [
            obj.key
            for obj in rt.store.list_objects(prefix)
            if obj.modified < (served_cutoff if kind == "predict" and _in_batch(obj.key) else cutoff)
        ]
        doomed = [key for key in old if not _is_protected(rt, key, protected)]
        kept += len(old) - len(doomed)
        if doomed:
            removed += rt.store.delete(doomed)
            log.info("removed %d file(s) under %s written before %s", len(doomed), rt.store.uri(prefix), cutoff)
    return removed, kept


def _in_batch(key: str) -> bool:
    """Whether a run file belongs to a feature batch: ``runs/<dag id>/<run id>/features/...``."""
    from pipeline.features.batch import BATCH_FOLDER

    return key.split("/")[3:4] == [BATCH_FOLDER]


def referenced(rt: Runtime) -> set[str]:
    """Every artifact URI of the model that the registry (``ml.model_versions``: each version's
    folder, snapshot and validation file) or a validation record (``ml.validation_results``) points at."""
    rows = rt.warehouse.fetch("ml/cleanup_referenced_uris", {"model_name": rt.cfg.model.name})
    return {row["uri"] for row in rows if row["uri"]}


def _is_protected(rt: Runtime, key: str, protected: set[str]) -> bool:
    """Whether ``key``, or a folder above it, is a referenced URI."""
    parts = key.split("/")
    return any(rt.store.uri("/".join(parts[:i])) in protected for i in range(1, len(parts) + 1))
