"""The models' timetable, registered as an Airflow plugin (``timetables``) so that the scheduler, the
DAG processor and the API server can deserialize it: a cron schedule whose every run, scheduled,
backfilled or triggered by hand, has the tick as its logical date and the schedule period that ends
there, ``[previous tick, tick)``, as its data interval, as the run's page shows it.

Airflow's two cron timetables each get one half of that: ``CronDataIntervalTimetable`` records the
period but keys a scheduled run by the period's *start* (so a manual run of the same date covers
another period and a backfill leaves a gap), and ``CronTriggerTimetable`` keys every run by the tick
but records an instant (``[tick, tick]``) or a fixed ``interval`` (wrong across a DST change, and for
irregular crons). This one keys by the tick and records the period, in whole cron periods of the
schedule's time zone (23 or 25 hours a day across a DST change).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction
from airflow.timetables.trigger import CronTriggerTimetable


class _TickRunInfo(DagRunInfo):
    """A run keyed by the end of its data interval (the tick), not its start."""

    __slots__ = ()

    @property
    def logical_date(self):
        """The tick: the end of the data interval."""
        return self.data_interval.end


class CronPeriodTimetable(CronTriggerTimetable):
    """Runs at each tick of ``cron`` in ``timezone``; each run's logical date is its tick and its data
    interval the period before it (module docstring). A manual run of date D covers the last whole
    period that ends at or before D: ``[previous tick, D)`` when D is a tick."""

    @property
    def expression(self) -> str:
        """The cron expression, presets expanded (``@weekly`` is ``0 0 * * 0``)."""
        return self._expression

    @property
    def timezone(self):
        """The schedule's time zone (pendulum)."""
        return self._timezone

    def period(self, tick) -> DataInterval:
        """``[previous tick, tick)`` for a ``tick`` of the schedule (aware)."""
        return DataInterval(self._get_prev(tick), tick)

    def infer_manual_data_interval(self, *, run_after) -> DataInterval:
        """The last whole period that ends at or before ``run_after`` (a manual run's logical date)."""
        return self.period(self._align_to_prev(run_after))

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        """The trigger timetable's next tick, as a run keyed by it that covers the period before it."""
        info = super().next_dagrun_info(
            last_automated_data_interval=last_automated_data_interval, restriction=restriction
        )
        if info is None:
            return None
        return _TickRunInfo(run_after=info.run_after, data_interval=self.period(info.run_after))


class PeriodTimetablePlugin(AirflowPlugin):
    """Registers :class:`CronPeriodTimetable` for (de)serialization."""

    name = "period_timetable"
    timetables = [CronPeriodTimetable]
