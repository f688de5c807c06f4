"""The models' Airflow timetables, and the period a run covers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from airflow.sdk import CronTriggerTimetable

from pipeline.config import PipelineConfig


def timetable(cfg: PipelineConfig, cron: str) -> CronTriggerTimetable:
    """A cron schedule in the configured time zone whose runs all have their tick as logical date.

    Airflow keys runs by logical date: a backfill skips (or clears) a date that already has a run.
    A scheduled or backfill run of an interval timetable has the interval's *start* as logical date,
    but a manual run (trigger form, REST API, ``dag.test``) covers the period *before* the date
    picked, so the two disagree by one period and a backfill leaves a gap. With a trigger timetable
    (no ``interval``) the logical date is the tick for every kind of run, and
    :func:`~dag_toolkit.context.run_context` maps it to the one schedule period that ends there
    (:func:`schedule_period`).
    """
    return CronTriggerTimetable(cron, timezone=cfg.schedule.timezone)


def schedule_period(schedule: Any, logical_date: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """``[start, end)`` (UTC) of the last complete period of ``schedule`` (a DAG's cron timetable, or the
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
    # Plain datetimes: the stages do their own arithmetic on them.
    return tuple(dt.datetime.fromtimestamp(t.timestamp(), dt.UTC) for t in (interval.start, interval.end))
