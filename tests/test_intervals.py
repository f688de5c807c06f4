"""Intervals that cannot disagree, and honest empty intervals.

- A manual run, a scheduled run and a backfill run with the same logical date cover the same period:
  the one that ends at that date. A backfill over a range that holds a manual run scores every
  period of the range exactly once.
- An interval with no source data ends as skipped (or failed, with ``schedule.on_empty: fail``) with
  a message naming it, never as a failed expectation, and publishes nothing.
"""

from __future__ import annotations

import datetime as dt
import runpy
from pathlib import Path

import pendulum
import pytest
from dag_toolkit import run_context

from pipeline.cli import main
from pipeline.data.warehouse import Warehouse
from pipeline.errors import EmptyIntervalError
from pipeline.features.build import count_entities
from pipeline.stages import RunContext, Runtime, predict

DAGS = Path(__file__).resolve().parents[1] / "dags"
# About intervals / the monitor, not forecasts: daily predicts in UTC with lead 0 (conftest).
pytestmark = pytest.mark.usefixtures("daily_utc")
UTC = dt.UTC
DAY = dt.timedelta(days=1)


def load_dag(kind: str, model: str = "flight_delay"):
    return runpy.run_path(str(DAGS / f"{kind}.py"))[f"{kind}__{model}"]


def manual_and_backfill_runs(dag, logical_date: dt.datetime):
    """The (logical date, recorded data interval) of a manual run of ``logical_date`` (trigger form's
    automatic interval, REST API, ``dag.test``) and of the scheduler's or backfill's run of it."""
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    timetable = coerce_to_core_timetable(dag.timetable)
    when = pendulum.instance(logical_date)
    manual = timetable.infer_manual_data_interval(run_after=when)
    # What SerializedDAG.iter_dagrun_infos_between (a backfill) and the scheduler ask the timetable.
    info = timetable.next_dagrun_info(
        last_automated_data_interval=None, restriction=TimeRestriction(earliest=when, latest=when, catchup=True)
    )
    return (when, (manual.start, manual.end)), (info.logical_date, (info.data_interval.start, info.data_interval.end))


def pipeline_interval(dag, logical_date, data_interval) -> tuple[dt.datetime, dt.datetime]:
    """The ``[start, end)`` the pipeline's stages get for a run of ``dag``."""
    ctx = run_context(
        {
            "dag": dag,
            "run_id": "r",
            "logical_date": logical_date,
            "data_interval_start": data_interval[0],
            "data_interval_end": data_interval[1],
        }
    )
    return ctx.start, ctx.end


@pytest.mark.parametrize(
    ("kind", "cron", "logical_date", "period_start"),
    [
        # @daily: the day that ends at the logical date.
        ("predict", None, dt.datetime(2013, 4, 2, tzinfo=UTC), dt.datetime(2013, 4, 1, tzinfo=UTC)),
        # @weekly (Sundays): the week that ends there.
        ("retrain", None, dt.datetime(2013, 3, 3, tzinfo=UTC), dt.datetime(2013, 2, 24, tzinfo=UTC)),
        # An irregular cron (a retrain's: a predict schedule needs one fixed period): Monday 09:00's
        # period starts on Friday 09:00.
        ("retrain", "0 9 * * 1-5", dt.datetime(2013, 4, 8, 9, tzinfo=UTC), dt.datetime(2013, 4, 5, 9, tzinfo=UTC)),
    ],
)
def test_manual_scheduled_and_backfill_runs_of_one_logical_date_cover_one_interval(
    monkeypatch, kind, cron, logical_date, period_start
):
    if cron:
        monkeypatch.setenv(f"PIPELINE_FLIGHT_DELAY__SCHEDULE__{kind.upper()}", cron)
    dag = load_dag(kind)
    (manual_date, manual_interval), (backfill_date, backfill_interval) = manual_and_backfill_runs(dag, logical_date)
    assert manual_date == backfill_date == logical_date  # Airflow keys both runs by the same date
    # ...and records the period they cover (the run page's data interval), which the stages get.
    assert manual_interval == backfill_interval == (period_start, logical_date)
    assert pipeline_interval(dag, manual_date, manual_interval) == (period_start, logical_date)


def test_periods_follow_the_wall_clock_across_dst(monkeypatch):
    """Europe/Paris switched to summer time on 2013-03-31: that day is 23 hours long, and consecutive
    runs' periods abut, with neither overlap nor gap (the daily monitor's: a daily predict schedule must
    be in UTC, for the cutoff rule's one fixed period)."""
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__SCHEDULE__TIMEZONE", "Europe/Paris")
    dag = load_dag("monitor")
    paris = pendulum.timezone("Europe/Paris")
    ticks = [pendulum.datetime(2013, 3, day, tz=paris) for day in (30, 31)] + [pendulum.datetime(2013, 4, 1, tz=paris)]
    periods = [pipeline_interval(dag, tick, (tick, tick)) for tick in ticks]
    assert [end - start for start, end in periods] == [DAY, DAY, dt.timedelta(hours=23)]
    assert periods[1][1] == periods[2][0] and periods[0][1] == periods[1][0]
    assert periods[2][0] == dt.datetime(2013, 3, 30, 23, tzinfo=UTC)  # midnight CET


@pytest.mark.parametrize(
    ("kind", "cron", "timezone", "end"),
    [
        ("retrain", "@monthly", "America/New_York", dt.datetime(2013, 3, 1, 5, tzinfo=UTC)),  # February: 28 days
        ("retrain", "@weekly", "UTC", dt.datetime(2013, 3, 3, tzinfo=UTC)),
        ("monitor", "@daily", "Europe/Paris", dt.datetime(2013, 3, 31, 22, tzinfo=UTC)),  # a 23-hour day
    ],
)
def test_the_cli_records_the_period_a_dag_run_of_the_same_end_covers(monkeypatch, kind, cron, timezone, end):
    from pipeline.cli import _runtime
    from pipeline.config import load_config

    section = "MONITORING__SCHEDULE" if kind == "monitor" else f"SCHEDULE__{kind.upper()}"
    monkeypatch.setenv(f"PIPELINE_FLIGHT_DELAY__{section}", cron)
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__SCHEDULE__TIMEZONE", timezone)
    dag_period = pipeline_interval(load_dag(kind), end, (end, end))
    ctx = _runtime(load_config("flight_delay"), kind, None, end).ctx  # `pipeline retrain --end`, no --start
    assert (ctx.start, ctx.end) == dag_period
    assert end - ctx.start > DAY or kind == "monitor"


def test_an_explicit_data_interval_from_the_trigger_form_wins():
    dag = load_dag("predict")
    start, end = dt.datetime(2013, 4, 1, 6, tzinfo=UTC), dt.datetime(2013, 4, 3, tzinfo=UTC)
    assert pipeline_interval(dag, end, (start, end)) == (start, end)


@pytest.fixture
def stack(airflow_db, snapshot, s3_endpoint, monkeypatch):
    """This test's warehouse and bucket for the DAGs and the CLI, a fast model, and a champion trained
    on the week that ends 2013-03-10 (by the CLI, once per session, then restored). The session's
    Airflow database keeps other tests' runs of ``predict__flight_delay`` (the Celery check's for
    2013-03-12, for one): they are deleted, so that the backfill meets only this test's manual run."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        for run in session.query(DagRun).filter(DagRun.dag_id == "predict__flight_delay"):
            session.delete(run)
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__MODEL__PARAMS", '{"max_iter": 20}')
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__PREDICTIONS__SHADOW_LATEST_CANDIDATE", "false")

    def use(url: str, root: str, patch: pytest.MonkeyPatch) -> None:
        patch.setenv("PIPELINE_WAREHOUSE__URL", url)
        patch.setenv("PIPELINE_ARTIFACTS__ROOT", root)
        patch.setenv("PIPELINE_ARTIFACTS__ENDPOINT_URL", s3_endpoint)

    def prepare(url: str, root: str) -> None:
        with pytest.MonkeyPatch.context() as patch:
            use(url, root, patch)
            assert main(["retrain", "--model", "flight_delay", "--end", "2013-03-10"]) == 0

    url, root = snapshot("cli_champion", prepare, s3_store=True)
    use(url, root, monkeypatch)
    return Warehouse(url)


def run_backfill_runs(dag_id: str, dag, backfill_id: int) -> dict[dt.datetime, str]:
    """Run every DagRun a backfill created, task by task in this process (what ``dag.test`` does
    for its own run); returns each run's final state by logical date."""
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    states = {}
    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.dag_id == dag_id, DagRun.backfill_id == backfill_id).all()
        for dr in sorted(runs, key=lambda r: r.logical_date):
            dr.dag = DBDagBag().get_dag_for_run(dr, session=session)
            dr.state = DagRunState.RUNNING
            session.commit()
            while dr.state == DagRunState.RUNNING:
                schedulable, _ = dr.update_state(session=session)
                for ti in schedulable:
                    ti.try_number += 1
                    ti.state = TaskInstanceState.SCHEDULED
                session.commit()
                for ti in [t for t in dr.get_task_instances(session=session) if t.state == TaskInstanceState.SCHEDULED]:
                    _run_task(ti=ti, task=dag.task_dict[ti.task_id])
                session.expire_all()
            states[dr.logical_date] = dr.state
    return states


def test_a_backfill_over_a_manual_run_scores_every_interval_exactly_once(stack):
    from airflow.models.backfill import BackfillDagRun, _create_backfill
    from airflow.utils.session import create_session

    dag = load_dag("predict")
    manual = dag.test(logical_date=dt.datetime(2013, 3, 13, tzinfo=UTC))
    assert manual.state == "success"

    # The UI's backfill of 03-12..03-15: one run per logical date, the manual run's date included.
    backfill = _create_backfill(
        dag_id=dag.dag_id,
        from_date=dt.datetime(2013, 3, 12, tzinfo=UTC),
        to_date=dt.datetime(2013, 3, 15, tzinfo=UTC),
        max_active_runs=4,
        reverse=False,
        dag_run_conf=None,
        triggering_user_name="test",
    )
    with create_session() as session:
        planned = session.query(BackfillDagRun).filter(BackfillDagRun.backfill_id == backfill.id).all()
        skipped = {r.logical_date for r in planned if r.exception_reason}
    assert skipped == {dt.datetime(2013, 3, 13, tzinfo=UTC)}  # the manual run stands for that date
    states = run_backfill_runs(dag.dag_id, dag, backfill.id)
    assert states == {dt.datetime(2013, 3, day, tzinfo=UTC): "success" for day in (12, 14, 15)}

    cfg = load_config_env()
    table = "ml.flight_delay_predictions"
    with stack.transaction() as cur:
        cur.execute(
            f"SELECT data_interval_start, data_interval_end, count(*) FROM {table} WHERE is_champion "
            "GROUP BY 1, 2 ORDER BY 1"
        )
        published = [(start, end, rows) for start, end, rows in cur.fetchall()]
        cur.execute(
            f"SELECT count(*) FROM (SELECT flight_id, model_version, is_champion FROM {table} "
            "GROUP BY 1, 2, 3 HAVING count(*) > 1) d"
        )
        duplicates = cur.fetchone()[0]
    days = [dt.datetime(2013, 3, day, tzinfo=UTC) for day in range(11, 15)]
    # Every day of [03-11, 03-15) once, each with all the entities of the day after: no gap, no overlap,
    # no duplicate.
    assert [(start, end) for start, end, _ in published] == [(d, d + DAY) for d in days]
    rule = cfg.cutoff_rule
    assert [rows for *_, rows in published] == [
        count_entities(stack, cfg.dataset, rule, *rule.window(d + DAY)) for d in days
    ]
    assert all(rows > 500 for *_, rows in published)
    assert duplicates == 0


def load_config_env():
    from pipeline.config import load_config

    return load_config("flight_delay")


FUTURE = dt.datetime(2026, 11, 21, tzinfo=UTC)


def validation_rows(warehouse: Warehouse) -> int:
    with warehouse.transaction() as cur:
        cur.execute("SELECT count(*) FROM ml.validation_results WHERE batch_kind LIKE 'scoring%%'")
        return cur.fetchone()[0]


def published_rows(warehouse: Warehouse) -> int:
    with warehouse.transaction() as cur:
        cur.execute("SELECT count(*) FROM ml.flight_delay_predictions")
        return cur.fetchone()[0]


def test_an_empty_interval_is_skipped_with_a_message_not_an_expectation_failure(stack, capsys):
    before = validation_rows(stack)
    # The CLI: the message, exit 0.
    assert main(["predict", "--model", "flight_delay", "--end", "2026-11-21"]) == 0
    out = capsys.readouterr().out
    assert "skipped: no flights entities in [2026-11-21 00:00:00+00:00, 2026-11-22 00:00:00+00:00)" in out
    assert "nothing to score" in out
    # A retrain whose window has no labelled rows: the same, before any validation or training.
    assert main(["retrain", "--model", "flight_delay", "--end", "2026-11-22"]) == 0
    assert "labelled flights rows in the training window" in capsys.readouterr().out

    # Airflow: the unpaused DAG's run for the current interval. The planning task is skipped with the
    # message, and nothing after it runs.
    dagrun = load_dag("predict").test(logical_date=FUTURE)
    states = {ti.task_id: ti.state for ti in dagrun.get_task_instances()}
    assert dagrun.state == "success"
    assert states["resolve_models"] == "success" and states["plan_scoring"] == "skipped"
    assert states["publish"] == "skipped" and states.get("score_partition") in ("skipped", None)
    dagrun = load_dag("retrain").test(logical_date=FUTURE)
    states = {ti.task_id: ti.state for ti in dagrun.get_task_instances()}
    assert states == dict.fromkeys(
        ["extract_training_batch", "validate_training_batch", "train_challenger", "promote"], "skipped"
    )

    assert published_rows(stack) == 0
    assert validation_rows(stack) == before  # no expectation suite ran
    with stack.transaction() as cur:
        cur.execute("SELECT count(*) FROM ml.model_versions")
        assert cur.fetchone()[0] == 1  # the fixture's champion only


def test_an_empty_interval_fails_with_the_message_when_config_says_so(stack, monkeypatch, capsys):
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__SCHEDULE__ON_EMPTY", "fail")
    assert main(["predict", "--model", "flight_delay", "--end", "2026-11-21"]) == 1
    assert "EmptyIntervalError: no flights entities in [2026-11-21" in capsys.readouterr().err
    with pytest.raises(EmptyIntervalError, match="nothing to score") as raised:
        predict.run(Runtime(load_config_env(), RunContext("predict__flight_delay", "m", FUTURE - DAY, FUTURE)))
    assert raised.value.skip is False

    dagrun = load_dag("predict").test(logical_date=FUTURE)
    states = {ti.task_id: ti.state for ti in dagrun.get_task_instances()}
    assert dagrun.state == "failed" and states["plan_scoring"] == "failed"
    assert published_rows(stack) == 0 and validation_rows(stack) == 0
