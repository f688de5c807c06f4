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
    CronTriggerTimetable,
    ExceptionRetryPolicy,
    RetryAction,
    RetryRule,
    get_current_context,
)

from pipeline.config import PipelineConfig, load_config, load_models

T = TypeVar("T")

# Errors that retrying cannot fix fail at once: every pipeline.errors.PermanentError (bad config or
# run param, a failed expectation suite, no champion, a statement the warehouse refuses as such: an
# undefined column or table, a syntax error), and any pydantic ValidationError a library let through
# (invalid input is invalid on every try). Anything else (a dropped connection, S3 throttling) is retried.
RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=["pipeline.errors.PermanentError", "pydantic.ValidationError"],
            action=RetryAction.FAIL,
            reason="retrying cannot fix it",
        )
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


def timetable(cfg: PipelineConfig, cron: str) -> CronTriggerTimetable:
    """A cron schedule in the configured time zone whose runs all have their tick as logical date.

    Airflow keys runs by logical date: a backfill skips (or clears) a date that already has a run.
    A scheduled or backfill run of an interval timetable has the interval's *start* as logical date,
    but a manual run (trigger form, REST API, ``dag.test``) covers the period *before* the date
    picked, so the two disagree by one period and a backfill leaves a gap. With a trigger timetable
    (no ``interval``) the logical date is the tick for every kind of run, and :func:`run_context`
    maps it to the one schedule period that ends there (:func:`schedule_period`).
    """
    return CronTriggerTimetable(cron, timezone=cfg.schedule.timezone)


def schedule_period(schedule: Any, logical_date: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """``[start, end)`` of the last complete period of ``schedule`` (a DAG's cron timetable, or the
    asset-or-time schedule around one) before ``logical_date``: ``[previous tick, logical_date)``
    when the date is a tick. None for a schedule without a cron (the manual-only rollback DAG).

    It is Airflow's own rule, computed by its ``CronDataIntervalTimetable`` for a manual run: whole
    cron periods in the schedule's time zone, so a daily period is 23 or 25 hours long across a DST
    change (a fixed ``timedelta`` would overlap or leave out an hour there).
    """
    from airflow.timetables.interval import CronDataIntervalTimetable

    cron = getattr(schedule, "timetable", schedule)
    if not hasattr(cron, "expression"):
        return None
    interval = CronDataIntervalTimetable(cron.expression, cron.timezone).infer_manual_data_interval(
        run_after=pendulum.instance(logical_date)
    )
    return interval.start, interval.end


def dag_doc(template: str, cfg: PipelineConfig, **extra: Any) -> str:
    """A DAG file's docstring, ``template``, filled in for one model: ``{model}``, ``{task}``,
    ``{timezone}``, ``{table}`` (its predictions table), ``{source}`` (its file), and ``extra``;
    followed by which interval a run covers, what a run without data does, and which dates have
    data (``dataset.coverage``)."""
    doc = template.format(
        model=cfg.model.name,
        task=cfg.task,
        timezone=cfg.schedule.timezone,
        table=cfg.predictions.table,
        source=cfg.source,
        **extra,
    )
    verdict = "skipped" if cfg.schedule.on_empty == "skip" else "failed"
    doc += (
        "\n**Intervals.** A run with logical date D, scheduled, backfilled or triggered by hand, covers the "
        f"schedule period that ends at D: [previous tick, D) in {cfg.schedule.timezone}. Trigger by hand with "
        "the tick that ends the period you want; the trigger form's data interval fields, when set, choose "
        f"another interval. A run whose interval has no data is {verdict} with a message saying so "
        "(`schedule.on_empty`).\n"
    )
    if cfg.dataset.coverage:
        doc += f"\n**Data.** {cfg.dataset.coverage}\n"
    return doc


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

    - A run with a logical date (scheduled, backfill or manual, whose data interval Airflow records
      as the instant ``[logical date, logical date]``) covers the schedule period that ends at its
      logical date, :func:`schedule_period`: the same period for every kind of run of that date.
    - A manual run given a data interval in the trigger form (start before end) covers it.
    - An asset-triggered run (monitor asked for a retrain) has neither: it runs as of the logical
      time its request carries (``as_of``), over the day before it.
    """
    from pipeline.stages import RunContext

    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    logical_date = context.get("logical_date")
    if (start is None or end is None or start >= end) and logical_date is not None:
        start, end = schedule_period(context["dag"].timetable, logical_date) or (start, end)
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
    ``window_days`` param, where the DAG has one, overrides ``training.window_days``.

    An interval without source data (:class:`~pipeline.errors.EmptyIntervalError`) skips the task,
    and so the tasks after it, with the stage's message (``schedule.on_empty: skip``), or fails it
    without retries (``fail``)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from pipeline.config import with_window_days
    from pipeline.errors import EmptyIntervalError
    from pipeline.stages import Runtime

    context = get_current_context()
    cfg = with_window_days(load_config(model), context["params"].get("window_days"))
    try:
        return stage(Runtime(cfg, run_context(context)), *args, **kwargs)
    except EmptyIntervalError as exc:
        if exc.skip:
            raise AirflowSkipException(str(exc)) from exc
        raise
