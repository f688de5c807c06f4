"""What every stage receives: the run context and the resources of one task, built once per task."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from pipeline.config import PipelineConfig
from pipeline.data import local_pg
from pipeline.data.artifacts import ArtifactStore, open_store
from pipeline.data.warehouse import Warehouse
from pipeline.errors import EmptyIntervalError

if TYPE_CHECKING:
    import pandas as pd

Kind = Literal["training", "scoring"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunContext:
    """Who is running and for which data interval ``[start, end)`` (timezone-aware datetimes).

    Built by the DAG toolkit from an Airflow task context, or by the CLI and tests directly; the
    library never reads Airflow's context.

    Raises:
        ValueError: a naive or empty interval (a run without a data interval).
    """

    dag_id: str
    run_id: str
    start: dt.datetime
    end: dt.datetime
    dag_version: str | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("the data interval must be timezone-aware")
        if self.start >= self.end:
            raise ValueError(
                f"empty data interval [{self.start}, {self.end}): a run needs a data interval. "
                "Trigger manual runs with a logical date: like a scheduled or backfill run of that "
                "date, the run then covers the schedule period that ends at it."
            )

    def describe(self, **windows: tuple[dt.datetime, dt.datetime]) -> str:
        """The interval a stage covers, in the words every stage logs it with: ``data interval [start,
        end), cutoff end`` followed by each of ``windows`` (``scored_window=(lo, hi)`` reads ``scored
        window [lo, hi)``), all in UTC ISO form."""

        def iso(t: dt.datetime) -> str:
            return t.astimezone(dt.UTC).isoformat()

        parts = [f"data interval [{iso(self.start)}, {iso(self.end)})", f"cutoff {iso(self.end)}"]
        parts += [f"{name.replace('_', ' ')} [{iso(lo)}, {iso(hi)})" for name, (lo, hi) in windows.items()]
        return ", ".join(parts)

    @property
    def actor(self) -> str:
        """``<dag id>/<run id>``: who made a registry change."""
        return f"{self.dag_id}/{self.run_id}"

    def key(self, name: str) -> str:
        """Artifact key for a run-scoped file: ``runs/<dag id>/<run id>/<name>``."""
        return f"runs/{self.dag_id}/{re.sub(r'[^A-Za-z0-9._-]', '_', self.run_id)}/{name}"


def open_warehouse(cfg: PipelineConfig) -> Warehouse:
    """The configured warehouse (``warehouse.url``), or the project's local cluster when unset.

    The local cluster is checked to be the server that answers on ``warehouse.local_port``
    (:func:`pipeline.data.local_pg.check_server`), so a run never writes to another server that
    happens to hold the port.

    Raises:
        LocalClusterError: no URL is configured and the local cluster is not running, or another
            server answers on its port.
    """
    if cfg.warehouse.url:
        return Warehouse(cfg.warehouse.url)
    local_pg.check_server(cfg.warehouse.local_path, cfg.warehouse.local_port)
    return Warehouse(local_pg.url(cfg.warehouse.local_port))


@dataclass
class Runtime:
    """A task's config, run context and resources. The warehouse and the artifact store are opened
    on first use, once per task; the warehouse is checked to be at the code's schema revision.
    Creating it caps the process's native thread pools at ``model.threads``.
    ``context`` is None for a run without a data interval (a rollback).

    Raises (on first use of ``warehouse``):
        LocalClusterError: no warehouse to connect to.
        SchemaError: the warehouse's schema is behind the code (run ``pipeline db upgrade``).
    """

    cfg: PipelineConfig
    context: RunContext | None = None

    def __post_init__(self) -> None:
        # A task is one process: cap its native thread pools (OpenMP, BLAS) at model.threads, so that
        # tasks running side by side under one executor do not oversubscribe the machine's cores.
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=self.cfg.model.threads)

    @property
    def ctx(self) -> RunContext:
        """The run context.

        Raises:
            ValueError: the run has no data interval (a stage that needs one was run without it).
        """
        if self.context is None:
            raise ValueError(
                "this run has no data interval: trigger it with a logical date, which selects the "
                "schedule period that ends at it"
            )
        return self.context

    @cached_property
    def warehouse(self) -> Warehouse:
        from pipeline.data import schema

        warehouse = open_warehouse(self.cfg)
        schema.require_current(warehouse)
        return warehouse

    @cached_property
    def store(self) -> ArtifactStore:
        return open_store(self.cfg.artifacts)

    def nothing_to_do(self, message: str) -> NoReturn:
        """End a run whose interval has no source data, with ``message`` (which names the interval):
        skipped or failed as ``schedule.on_empty`` says, never as a failed expectation.

        Raises:
            EmptyIntervalError: always; ``skip`` is True for ``on_empty: skip``.
        """
        skip = self.cfg.schedule.on_empty == "skip"
        log.warning("%s (schedule.on_empty: %s)", message, self.cfg.schedule.on_empty)
        raise EmptyIntervalError(message, skip=skip)

    def put_json(self, name: str, doc: Any) -> str:
        """Store ``doc`` as the run-scoped JSON artifact ``name`` (replacing a retry's); returns its URI."""
        return self.store.put(self.ctx.key(name), to_json(doc), overwrite=True)

    def validate(
        self, frame: pd.DataFrame, kind: Kind, name: str, start: Any, end: Any, interval_rows: int | None = None
    ) -> dict:
        """Validate a batch covering ``[start, end)`` with the ``kind`` expectation suite, store the
        result, stop on failure. ``interval_rows``: the batch is one partition of an interval of that
        many rows, which the suite's row-count bounds then apply to (:func:`validate_batch`).

        The full GX result goes to the artifact store (``runs/.../validation-<name>-<random id>.json``)
        and a summary row (``batch_kind`` = ``name``) to ``ml.validation_results``, pass or fail: one
        row and one file per attempt, so a failure stays on record next to the retry that passed.

        Returns:
            The report summary (:meth:`ValidationReport.summary`) plus ``artifact_uri``.

        Raises:
            ValidationFailedError: naming every failed expectation.
        """
        from pipeline.validation import validate_batch

        report = validate_batch(frame, self.cfg.validation.suite_path(kind), name, interval_rows=interval_rows)
        uri = self.put_json(f"validation-{name}-{uuid.uuid4().hex[:12]}.json", report.result)
        self.warehouse.run(
            "ml/validation_insert",
            {
                "model_name": self.cfg.model.name,
                "dag_id": self.ctx.dag_id,
                "run_id": self.ctx.run_id,
                "batch_kind": name,
                "suite_name": report.suite_name,
                "start": start,
                "end": end,
                "row_count": len(frame),
                "success": report.success,
                "evaluated": report.evaluated,
                "failed": len(report.failed),
                "failed_expectations": json.dumps(report.failed, default=str),
                "artifact_uri": uri,
            },
        )
        report.raise_for_failure()
        return {**report.summary(), "artifact_uri": uri}


def to_json(doc: Any) -> bytes:
    """``doc`` as indented, key-sorted JSON bytes (datetimes and other values as ``str``)."""
    return json.dumps(doc, indent=2, sort_keys=True, default=str).encode()


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
