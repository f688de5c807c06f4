"""Time and schedules, in one place: which schedules are valid, and when each entity is predicted.

- **Periods.** A run at a tick D of a cron schedule covers the schedule period that ends at D, whole
  cron periods in the schedule's time zone (23 or 25 hours a day across a DST change): Airflow's own
  rule, applied to the DAGs' timetables in ``dags/dag_toolkit/timetables.py``.
- **Cutoffs.** The predict schedule's ticks (:func:`predict_grid`) are the cutoffs of the predict runs;
  :class:`CutoffRule` says which run scores an entity, and :func:`cutoffs` lists the runs that cover a
  span (the CLI's ``predict --start/--end``).

The SQL twin of :meth:`CutoffRule.cutoff` is PostgreSQL's ``date_bin``, written in each feature query
(``sql/features/*.sql``) as ``date_bin(%(horizon)s, <timestamp> - %(lead)s, %(origin)s) AS as_of``.

Light on purpose (croniter and the standard library): :mod:`pipeline.config` imports it at DAG-parse time.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from croniter import croniter

CUTOFF_COLUMN = "as_of"
"""The column every feature query returns with each row's cutoff (see :class:`CutoffRule`)."""

PRESETS = {"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@quarterly", "@yearly", "@annually"}
"""The cron presets a schedule may name (Airflow's)."""


def is_cron(expression: str) -> bool:
    """Whether ``expression`` is a cron expression or one of the :data:`PRESETS`."""
    return expression in PRESETS or croniter.is_valid(expression)


class CutoffRule(NamedTuple):
    """When each entity is predicted: the cutoff of the predict run that scores an entity stamped ``t``
    is ``date_bin(horizon, t - lead, origin)`` (PostgreSQL's ``date_bin``: the start of the
    ``horizon``-wide bin, counted from ``origin``, that holds ``t - lead``). Every feature query receives
    the three as bind parameters ``%(lead)s``, ``%(horizon)s`` (interval) and ``%(origin)s``
    (timestamptz), returns that cutoff as column ``as_of``, and uses only data known by it (at or before it), for
    training rows as for scoring ones: one query, so training and serving cannot skew.

    ``origin`` is a tick of ``schedule.predict`` (``schedule.start_date`` at 00:00 in
    ``schedule.timezone``); ``horizon`` is one period of it; all three are timezone-aware or timedeltas.
    """

    lead: dt.timedelta
    horizon: dt.timedelta
    origin: dt.datetime

    def cutoff(self, timestamp: dt.datetime) -> dt.datetime:
        """The cutoff of the predict run that scores an entity stamped ``timestamp`` (timezone-aware), in
        UTC. Computed in UTC, as ``date_bin`` does: Python's arithmetic on datetimes of one zone is
        wall-clock arithmetic, which is an hour off across a DST change."""
        t = timestamp.astimezone(dt.UTC)
        return t - (t - self.lead - self.origin.astimezone(dt.UTC)) % self.horizon - self.lead

    def window(self, cutoff: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """The entity timestamps ``[cutoff + lead, cutoff + lead + horizon)`` a run cut off at ``cutoff``
        (timezone-aware) scores, in UTC."""
        t = cutoff.astimezone(dt.UTC)
        return t + self.lead, t + self.lead + self.horizon


@cache
def predict_grid(
    cron: str, start_date: dt.date, timezone: str, ticks: int = 400
) -> tuple[dt.datetime, dt.timedelta | str]:
    """The first tick of ``cron`` at or after ``start_date`` 00:00 in ``timezone``, and the length of
    one period over its first ``ticks`` ticks (or why the periods differ)."""
    start = dt.datetime.combine(start_date, dt.time(), ZoneInfo(timezone))
    it = croniter(cron, start - dt.timedelta(microseconds=1))
    stamps = [it.get_next(dt.datetime) for _ in range(ticks + 1)]
    gaps = {b - a for a, b in zip(stamps, stamps[1:], strict=False)}
    if len(gaps) > 1:
        return stamps[0], (
            f"{cron!r} in {timezone} has periods of different lengths "
            f"({', '.join(str(g) for g in sorted(gaps))}); the cutoff rule needs one fixed period: use an hourly "
            "schedule, or a daily one in UTC"
        )
    return stamps[0], gaps.pop()


def previous_tick(cron: str, timezone: str, end: dt.datetime) -> dt.datetime:
    """The last tick of ``cron`` (evaluated in ``timezone``) before ``end`` (timezone-aware), in UTC:
    the start of the schedule period that ends at ``end`` when ``end`` is a tick, a whole cron period in
    the zone (a month for ``@monthly``, 23 or 25 hours for a day across a DST change), as Airflow's
    timetables make it. The CLI's runs take it as their data interval's start."""
    it = croniter(cron, end.astimezone(ZoneInfo(timezone)))
    return it.get_prev(dt.datetime).astimezone(dt.UTC)


def cutoffs(rule: CutoffRule, start: dt.datetime | None, end: dt.datetime) -> list[dt.datetime]:
    """The cutoffs of the predict runs that cover ``(start, end]``: the ticks of the predict schedule
    (``rule.origin`` plus whole ``rule.horizon`` periods) after ``start`` up to ``end``, oldest first;
    ``[end]`` when ``start`` is None. Each run's data interval is ``[tick - horizon, tick)``, as the DAG's.

    Raises:
        ValueError: ``start`` or ``end`` is naive, ``end`` is not a tick (the predict stage's cutoff
            check would refuse it), or ``start`` is not before ``end``.
    """
    for name, t in (("start", start), ("end", end)):
        if t is not None and t.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware, got {t}")
    if rule.cutoff(end + rule.lead) != end:
        raise ValueError(
            f"{end} is not a tick of the predict schedule (every {rule.horizon} from {rule.origin}): a predict run "
            f"is cut off at a tick, e.g. {rule.cutoff(end + rule.lead)}"
        )
    if start is None:
        return [end]
    if start >= end:
        raise ValueError(f"start {start} is not before end {end}")
    first = rule.cutoff(start + rule.lead) + rule.horizon  # the first tick after start
    return [first + i * rule.horizon for i in range((end - first) // rule.horizon + 1)]
