"""The models' Airflow timetables, and the period a run covers.

The timetable class, :class:`period_timetable.CronPeriodTimetable`, lives in the plugins folder
(``plugins/period_timetable.py``, on every Airflow process's ``sys.path``): a custom timetable must
be registered by a plugin for the scheduler to deserialize it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from period_timetable import CronPeriodTimetable

from pipeline.config import PipelineConfig


def timetable(cfg: PipelineConfig, cron: str) -> CronPeriodTimetable:
    """A cron schedule in the configured time zone whose runs all have their tick as logical date and
    the period that ends there as data interval.

    Airflow keys runs by logical date: a backfill skips (or clears) a date that already has a run.
    A scheduled or backfill run of an interval timetable has the interval's *start* as logical date,
    but a manual run (trigger form, REST API, ``dag.test``) covers the period *before* the date
    picked, so the two disagree by one period and a backfill leaves a gap. With
    :class:`~period_timetable.CronPeriodTimetable` the logical date is the tick for every kind of run,
    and the recorded data interval (the run page's) is the schedule period that ends there.
    """
    return CronPeriodTimetable(cron, timezone=cfg.schedule.timezone)


def schedule_period(schedule: Any, logical_date: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """``[start, end)`` (UTC) of the last complete period of ``schedule`` (a DAG's cron timetable, or the
    asset-or-time schedule around one) before ``logical_date``: ``[previous tick, logical_date)``
    when the date is a tick. None for a schedule without a cron (the manual-only rollback DAG).

    It is the data interval :class:`~period_timetable.CronPeriodTimetable` records for a run of that
    date: whole cron periods in the schedule's time zone, so a daily period is 23 or 25 hours long
    across a DST change (a fixed ``timedelta`` would overlap or leave out an hour there). For a run
    recorded with an instant as its interval (by the trigger timetable the DAGs used before).
    """
    cron = getattr(schedule, "timetable", schedule)
    if not isinstance(cron, CronPeriodTimetable):
        return None
    interval = cron.infer_manual_data_interval(run_after=pendulum.instance(logical_date))
    # Plain datetimes: the stages do their own arithmetic on them.
    return tuple(dt.datetime.fromtimestamp(t.timestamp(), dt.UTC) for t in (interval.start, interval.end))
