"""An Airflow task context as the pipeline's run context, and the one-line runner of a pipeline stage
from a task."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from airflow.sdk import get_current_context

from dag_toolkit.connections import connection_overrides
from dag_toolkit.timetables import schedule_period
from pipeline.config import load_config

T = TypeVar("T")
log = logging.getLogger(__name__)


def run_context(context: dict[str, Any]):
    """The pipeline's :class:`~pipeline.stages.RunContext` of an Airflow task context, or None for
    a run without a data interval.

    - A run covers the data interval Airflow recorded for it: for a scheduled, backfill or manual run
      with a logical date, the schedule period that ends at that date
      (:class:`~period_timetable.CronPeriodTimetable`), the same period for every kind of run of that
      date; a manual run given a data interval in the trigger form covers that one.
    - A run recorded with an instant as its interval (``[logical date, logical date]``, by the trigger
      timetable the DAGs used before) covers the schedule period that ends at its logical date,
      :func:`~dag_toolkit.timetables.schedule_period`.
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
    # Plain UTC datetimes, not Airflow's pendulum ones: the stages do their own arithmetic on them.
    start, end = (dt.datetime.fromtimestamp(t.timestamp(), dt.UTC) for t in (start, end))
    return RunContext(
        context["dag"].dag_id, context["run_id"], start, end, None if dag_version is None else str(dag_version)
    )


def run_stage(model: str, stage: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a pipeline stage for ``model`` inside the current task:
    ``stage(Runtime(config, run context), *args)``, with the model's config read afresh and the
    credentials of the configured Airflow Connections
    (:func:`~dag_toolkit.connections.connection_overrides`). The run's ``window_days`` param, where
    the DAG has one, overrides ``training.window_days``.

    The task's log starts with the interval it covers (:meth:`~pipeline.stages.RunContext.describe`).
    An interval without source data (:class:`~pipeline.errors.EmptyIntervalError`) skips the task,
    and so the tasks after it, with the stage's message (``schedule.on_empty: skip``), or fails it
    without retries (``fail``)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from pipeline.config import with_window_days
    from pipeline.errors import EmptyIntervalError
    from pipeline.stages import Runtime

    context = get_current_context()
    cfg = with_window_days(load_config(model, **connection_overrides()), context["params"].get("window_days"))
    covered = run_context(context)
    if covered is not None:
        log.info("%s", covered.describe())  # every task's log says which interval it works on, in one form
    try:
        return stage(Runtime(cfg, covered), *args, **kwargs)
    except EmptyIntervalError as exc:
        if exc.skip:
            raise AirflowSkipException(str(exc)) from exc
        raise
