"""The models' Airflow timetables, and the period a run covers: thin adaptors over
:mod:`pipeline.schedule`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import CronTriggerTimetable

from pipeline.config import PipelineConfig
from pipeline.schedule import schedule_period as cron_period


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
    """``[start, end)`` of the last complete period of ``schedule`` (a DAG's cron timetable, or the
    asset-or-time schedule around one) before ``logical_date``: ``[previous tick, logical_date)``
    when the date is a tick (:func:`pipeline.schedule.schedule_period`, Airflow's rule for a manual
    run). None for a schedule without a cron (the manual-only rollback DAG).
    """
    cron = getattr(schedule, "timetable", schedule)
    if not hasattr(cron, "expression"):
        return None
    return cron_period(cron.expression, getattr(cron.timezone, "name", cron.timezone), logical_date)
