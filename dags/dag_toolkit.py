"""The shared DAG toolkit: the configured models, defaults, retry policy, start date, timetables and
tags for every DAG of this project, the translation of an Airflow task context into the pipeline's run
context, and the one-line helper that runs a pipeline stage from a task. Listed in ``.airflowignore``:
not a DAG file.

Each DAG file builds one DAG per model (``retrain__<model>``, ...) from :func:`models`: the model files
that validate. A broken model file is left out there, and ``model_files.py`` reports it as its import
error, so the other models' DAGs keep running.

Only light imports at module level (``airflow.sdk``, ``pendulum``, the config model): DAG files are
parsed often.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import pendulum
from airflow.sdk import (
    CronDataIntervalTimetable,
    ExceptionRetryPolicy,
    RetryAction,
    RetryRule,
    get_current_context,
)

from pipeline.config import PipelineConfig, load_config, load_models

T = TypeVar("T")

# Errors that retrying cannot fix (bad config, a failed expectation suite, no champion) fail at once;
# anything else (a dropped connection, S3 throttling) is retried.
RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(exception="pipeline.errors.PermanentError", action=RetryAction.FAIL, reason="retrying cannot fix it")
    ]
)
DEFAULT_ARGS = {"retries": 2, "retry_delay": dt.timedelta(minutes=2), "retry_policy": RETRY_POLICY}


def models() -> dict[str, PipelineConfig]:
    """Every model whose file validates: name -> config, sorted by name. Broken files are left out
    (``model_files.py`` reports them). A bad shared file raises ``ConfigError``: every DAG file's
    import error, since no model can run without the warehouse and artifact settings."""
    return load_models()[0]


def dag_id(kind: str, cfg: PipelineConfig) -> str:
    """``<kind>__<model>``, for example ``retrain__flight_delay``."""
    return cfg.dag_id(kind)


def timetable(cfg: PipelineConfig, cron: str) -> CronDataIntervalTimetable:
    """A cron schedule in the configured time zone whose runs cover ``[previous tick, tick)``: a real
    data interval, unlike a bare cron string's zero-length one."""
    return CronDataIntervalTimetable(cron, timezone=cfg.schedule.timezone)


def dag_doc(template: str, cfg: PipelineConfig, **extra: Any) -> str:
    """A DAG file's docstring, ``template``, filled in for one model: ``{model}``, ``{task}``,
    ``{timezone}``, ``{table}`` (its predictions table), ``{source}`` (its file), and ``extra``."""
    return template.format(
        model=cfg.model.name,
        task=cfg.task,
        timezone=cfg.schedule.timezone,
        table=cfg.predictions.table,
        source=cfg.source,
        **extra,
    )


def dag_args(cfg: PipelineConfig | None, doc: str | None) -> dict[str, Any]:
    """The ``@dag`` arguments every DAG of the project shares: default args (retries and the retry
    policy), the doc as the UI's documentation, and, for a model's DAG, its start date, catchup and
    tags (``ml``, the model's name and task)."""
    args = {
        "default_args": DEFAULT_ARGS,
        "doc_md": doc,
        "tags": ["ml"],
        "catchup": False,
        # Unpausing starts a run for the current interval: a deployment turns each DAG on deliberately.
        "is_paused_upon_creation": True,
    }
    if cfg is not None:
        args |= {
            "start_date": pendulum.datetime(*cfg.schedule.start_date.timetuple()[:3], tz=cfg.schedule.timezone),
            "catchup": cfg.schedule.catchup,
            "tags": ["ml", cfg.model.name, cfg.task],
        }
    return args


def run_context(context: dict[str, Any]):
    """The pipeline's :class:`~pipeline.stages.RunContext` of an Airflow task context, or None for
    a run without a data interval.

    The interval is the run's ``[data_interval_start, data_interval_end)``. An asset-triggered run
    (monitor asked for a retrain) has none: it runs as of the logical time its request carries
    (``as_of``), over the day before it.
    """
    from pipeline.stages import RunContext

    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None or start >= end:
        requested = [
            dt.datetime.fromisoformat(event.extra["as_of"])
            for events in (context.get("triggering_asset_events") or {}).values()
            for event in events
            if "as_of" in (event.extra or {})
        ]
        if not requested:
            return None
        end = max(requested)
        start = end - dt.timedelta(days=1)
    dag_version = getattr(context.get("ti"), "dag_version_id", None)
    return RunContext(
        context["dag"].dag_id, context["run_id"], start, end, None if dag_version is None else str(dag_version)
    )


def run_stage(model: str, stage: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a pipeline stage for ``model`` inside the current task:
    ``stage(Runtime(config, run context), *args)``, with the model's config read afresh. The run's
    ``window_days`` param, where the DAG has one, overrides ``training.window_days``."""
    from pipeline.config import with_window_days
    from pipeline.stages import Runtime

    context = get_current_context()
    cfg = with_window_days(load_config(model), context["params"].get("window_days"))
    return stage(Runtime(cfg, run_context(context)), *args, **kwargs)


# Seconds a DAG file waits for the registry at parse time before offering a free version field.
REGISTRY_PARSE_TIMEOUT_S = 3


def registry_versions(cfg: PipelineConfig) -> list[dict] | str:
    """The model's versions a rollback can serve, and its champion, read from ``ml.model_versions``
    at parse time: rows ``{"version": int, "status": "candidate" | "archived" | "champion",
    "metric": float | None (the promotion metric on the version's holdout), "holdout_end":
    datetime}``, newest first. Or, when the registry cannot be read, the reason (a string).

    The one exception to "no I/O at DAG top level": a rollback form must list the versions that
    exist. It stays cheap: one indexed query over psycopg2 (no pandas, no SQLAlchemy), at most
    ``REGISTRY_PARSE_TIMEOUT_S`` seconds to connect and to run, read-only. The SQL is
    ``sql/ml/registry_rollback_choices.sql``, read directly: the warehouse module's loader pulls in
    pandas and pyarrow.
    """
    import psycopg2
    import psycopg2.extras

    from pipeline.config import PROJECT_ROOT
    from pipeline.data import local_pg

    url = cfg.warehouse.url or local_pg.url(cfg.warehouse.local_port)
    url = url.replace("postgresql+psycopg2://", "postgresql://", 1)  # libpq reads no SQLAlchemy driver name
    query = (PROJECT_ROOT / "sql" / "ml" / "registry_rollback_choices.sql").read_text()
    timeout_ms = REGISTRY_PARSE_TIMEOUT_S * 1000
    try:
        conn = psycopg2.connect(
            url,
            connect_timeout=REGISTRY_PARSE_TIMEOUT_S,
            options=f"-c statement_timeout={timeout_ms} -c default_transaction_read_only=on -c timezone=UTC",
        )
    except psycopg2.Error as exc:
        return f"cannot connect to the warehouse ({str(exc).strip().splitlines()[0]})"
    try:
        with conn, conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(query, {"model_name": cfg.model.name, "metric": cfg.promotion_metric})
            return [dict(row) for row in cur.fetchall()]
    except psycopg2.Error as exc:
        return f"cannot read the registry ({str(exc).strip().splitlines()[0]})"
    finally:
        conn.close()
