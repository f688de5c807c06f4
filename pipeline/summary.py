"""A model's state as the warehouse holds it: the readers behind ``pipeline summary`` and the model
dashboard (``plugins/model_dashboard.py``), so both show the same numbers from the same statements.

Every reader takes an open :class:`~pipeline.data.warehouse.Warehouse` and reads only. Times are
timezone-aware datetimes (UTC) as PostgreSQL returns them; metrics are floats in their own units.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from psycopg2 import sql

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig
    from pipeline.data.warehouse import Warehouse


def versions(warehouse: Warehouse, model_name: str) -> list[dict[str, Any]]:
    """Every registered version, oldest first: ``version``, ``status``, ``decision``,
    ``decision_reason``, ``decision_evidence`` (the promotion gate's intervals, or None), ``decided_at``,
    ``metrics`` and ``baseline_metrics`` (holdout), ``holdout_start``, ``holdout_end``, ``train_rows``,
    ``artifact_uri``, and the lineage: ``dag_id``, ``run_id``, ``code_version``, ``training_data_uri``,
    ``training_data_sha256``, ``validation_uri``, ``feature_sql_sha256``, ``expectation_suites`` (each
    suite's ``file`` and ``sha256``), ``reproduces_version``."""
    return warehouse.fetch("ml/registry_list", {"model_name": model_name})


def champion_history(warehouse: Warehouse, model_name: str) -> list[dict[str, Any]]:
    """Every change of champion (``ml.champion_history``), oldest first: ``valid_from`` (logical
    time), ``old_version``, ``new_version``, ``reason`` (promoted, forced, rollback), ``actor``,
    ``detail``, ``changed_at``."""
    return warehouse.fetch("ml/champion_history_list", {"model_name": model_name})


def latest_monitor(warehouse: Warehouse, model_name: str) -> dict[str, Any] | None:
    """The latest monitor decision (``ml.retrain_triggers``): ``data_interval_end``,
    ``champion_version``, ``retrain``, ``suppressed``, ``reasons`` and ``evidence``; None before the
    first monitor run."""
    rows = warehouse.fetch("ml/monitor_latest", {"model_name": model_name})
    return rows[0] if rows else None


def has_predictions_table(warehouse: Warehouse, cfg: PipelineConfig) -> bool:
    """Whether the model's predictions table exists (the first predict run creates it)."""
    return warehouse.table_exists(cfg.predictions.table)


def predictions_overview(warehouse: Warehouse, cfg: PipelineConfig) -> dict[str, Any] | None:
    """The model's predictions: ``row_count``, ``intervals``, ``first_start``, ``last_end``,
    ``first_as_of``, ``last_as_of`` and ``min_lead`` (the smallest gap between a cutoff and the
    start of the window it scored, a timedelta); None before the first predict run."""
    if not has_predictions_table(warehouse, cfg):
        return None
    return warehouse.fetch("ml/predictions_summary", {"model_name": cfg.model.name}, table=cfg.predictions.table)[0]


def prediction_counts(warehouse: Warehouse, cfg: PipelineConfig) -> list[dict[str, Any]]:
    """Champion predictions per data interval, oldest first: ``data_interval_start``,
    ``data_interval_end``, ``as_of``, ``window_start``, ``window_end`` (the scored window) and
    ``rows``; no rows before the first predict run."""
    if not has_predictions_table(warehouse, cfg):
        return []
    return warehouse.fetch("ml/predictions_per_interval", {"model_name": cfg.model.name}, table=cfg.predictions.table)


def gaps(counts: list[dict[str, Any]]) -> list[tuple[dt.datetime, dt.datetime]]:
    """The spans between consecutive intervals of :func:`prediction_counts` that no interval covers
    (``[one interval's end, the next one's start)``), oldest first."""
    return [
        (a["data_interval_end"], b["data_interval_start"])
        for a, b in zip(counts, counts[1:], strict=False)
        if a["data_interval_end"] < b["data_interval_start"]
    ]


def daily_performance(warehouse: Warehouse, cfg: PipelineConfig) -> list[dict[str, Any]]:
    """The champion's performance per UTC day of its predictions, oldest first: ``day`` (a date),
    ``realized`` (the promotion metric of the day's labelled predictions of the version then champion,
    ``realized_version``, as the latest monitor run covering the day measured it; None without labels)
    and ``estimated`` (the CBPE estimate from the scores alone of the latest monitor run that estimated
    the day, of its champion ``estimated_version``'s predictions, ``ml.performance_estimates``; None for
    a metric CBPE does not estimate, or a regression)."""
    metric = cfg.promotion_metric
    estimated = f"estimated_{metric}"
    estimates = sql.Identifier(estimated) if estimated in ESTIMATED_COLUMNS else sql.SQL("NULL::double precision")
    return warehouse.fetch(
        "ml/performance_daily", {"model_name": cfg.model.name, "metric": metric}, estimated=estimates
    )


ESTIMATED_COLUMNS = frozenset({"estimated_roc_auc", "estimated_brier", "estimated_log_loss"})
"""The metrics ``ml.performance_estimates`` holds a CBPE estimate of, as its columns."""


def drift_history(warehouse: Warehouse, model_name: str) -> list[dict[str, Any]]:
    """Feature and prediction drift (PSI) of every monitor run, oldest run first: ``data_interval_end``
    (the run's cutoff), ``feature`` (``score`` for the prediction drift), ``kind`` (numeric,
    categorical or prediction), ``value``, ``threshold`` (the sample-size aware one) and ``drifted``."""
    return warehouse.fetch("ml/drift_history", {"model_name": model_name})


@contextmanager
def reading(cfg: PipelineConfig) -> Iterator[Warehouse]:
    """The model's warehouse (:func:`pipeline.stages.runtime.open_warehouse`) for a few reads, its
    connections closed afterwards: for a long-lived process such as the Airflow API server."""
    from pipeline.stages.runtime import open_warehouse

    warehouse = open_warehouse(cfg)
    try:
        yield warehouse
    finally:
        warehouse.engine.dispose()


def version_of_run(warehouse: Warehouse, model_name: str, dag_id: str, run_id: str) -> int | None:
    """The version a run registered (a retrain's) or made champion (a rollback's), or None."""
    rows = warehouse.fetch(
        "ml/version_of_run", {"model_name": model_name, "run_id": run_id, "actor": f"{dag_id}/{run_id}"}
    )
    return rows[0]["version"] if rows else None
