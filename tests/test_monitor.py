"""The monitor stage: idempotent writes, cooldown, and the Asset that requests a retrain (the trigger's rule
itself: tests/test_trigger_rule.py)."""

from __future__ import annotations

import datetime as dt
import runpy
from pathlib import Path

import pytest

from pipeline.stages import RunContext, Runtime, monitor
from pipeline.stages.runtime import open_warehouse

# About intervals / the monitor, not forecasts: daily predicts in UTC with lead 0 (conftest).
pytestmark = pytest.mark.usefixtures("daily_utc")
UTC = dt.UTC
MARCH_3 = dt.datetime(2013, 3, 3, tzinfo=UTC)
DAY = dt.timedelta(days=1)
DAGS = Path(__file__).resolve().parents[1] / "dags"


def counts(cfg) -> dict[str, int]:
    wh = open_warehouse(cfg)
    with wh.transaction() as cur:
        out = {}
        for table in ("feature_drift", "model_performance", "retrain_triggers"):
            cur.execute(f"SELECT count(*) FROM ml.{table}")
            out[table] = cur.fetchone()[0]
        return out


def test_monitor_writes_once_per_interval_and_respects_the_cooldown(monitored):
    cfg = monitored
    ctx = RunContext("monitor", "m1", dt.datetime(2013, 3, 3, tzinfo=UTC), dt.datetime(2013, 3, 4, tzinfo=UTC))
    first = monitor.measure(Runtime(cfg, ctx))
    after_first = counts(cfg)
    again = monitor.measure(Runtime(cfg, ctx))  # a rerun of the same interval
    assert counts(cfg) == after_first
    assert again["retrain"] == first["retrain"]
    features = len(cfg.dataset.features)
    assert (
        after_first["feature_drift"]
        == 3 * len(cfg.dataset.numeric_features) + 2 * len(cfg.dataset.categorical_features) + 3
    )  # + score's psi, wasserstein, jensen_shannon
    assert features > 0 and after_first["retrain_triggers"] == 1
    # Realized performance exists for the day that was predicted, on the labels observed by the
    # monitor's cutoff (03-04 00:00 UTC): a flight is labelled at departure, or 15 minutes after
    # schedule if it has not left by then.
    perf = open_warehouse(cfg)
    with perf.transaction() as cur:
        cur.execute("SELECT value FROM ml.model_performance WHERE metric = 'rows' AND day = '2013-03-03'")
        rows = cur.fetchone()[0]
        cur.execute(
            "SELECT count(*), count(*) FILTER (WHERE f.time_hour + make_interval(mins => f.minute) "
            "    + least(f.dep_delay, 15) * interval '1 minute' <= '2013-03-04Z') "
            "FROM ml.flight_delay_predictions p JOIN nycflights13.flights f USING (flight_id) "
            "WHERE f.dep_delay IS NOT NULL"
        )
        labelled, known = cur.fetchone()
        assert rows == known < labelled  # the late evening's flights had not left at the cutoff

    # With a hair-trigger threshold (and no sample-size rule) every day asks for a retrain, but the cooldown lets
    # one through per week.
    hair_trigger = {
        "trigger": cfg.monitoring.trigger.model_copy(update={"prediction_drift": True}),
        "trigger_prediction_psi": 1e-9,
        "thresholds": {"psi": 1e-9},
        "significance": None,
    }
    eager = cfg.model_copy(update={"monitoring": cfg.monitoring.model_copy(update=hair_trigger)})
    asked = [3] if first["retrain"] else []  # the default rule may fire on the first day already (performance)
    for day in range(4, 14):
        ctx = RunContext(
            "monitor", f"m{day}", dt.datetime(2013, 3, day, tzinfo=UTC), dt.datetime(2013, 3, day + 1, tzinfo=UTC)
        )
        decision = monitor.measure(Runtime(eager, ctx))
        assert decision["reasons"]
        if decision["retrain"]:
            asked.append(day)
    assert len(asked) == 2 and asked[1] - asked[0] >= cfg.monitoring.cooldown_days

    # The seven-day windows ending 03-04 to 03-10 each measured 03-03: one row per fact, the latest
    # measurement (all the day's labels known), which a rerun of the first interval (fewer labels known)
    # does not overwrite.
    monitor.measure(Runtime(cfg, RunContext("monitor", "m1-again", MARCH_3, MARCH_3 + DAY)))
    with perf.transaction() as cur:
        cur.execute(
            "SELECT count(*), count(DISTINCT (model_version, day, metric)) FROM ml.model_performance "
            "WHERE model_name = 'flight_delay'"
        )
        stored, facts = cur.fetchone()
        cur.execute(
            "SELECT value, data_interval_end, run_id FROM ml.model_performance "
            "WHERE metric = 'rows' AND day = '2013-03-03'"
        )
        latest = cur.fetchall()
    assert stored == facts > 1
    assert latest == [(labelled, dt.datetime(2013, 3, 10, tzinfo=UTC), "m9")]


def test_monitor_dag_requests_a_retrain_through_the_asset(airflow_db, monitored, monkeypatch):
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    cfg = monitored
    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", cfg.warehouse.url)
    monkeypatch.setenv("PIPELINE_ARTIFACTS__ROOT", cfg.artifacts.root)
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__MONITORING__TRIGGER__PREDICTION_DRIFT", "true")
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__MONITORING__TRIGGER_PREDICTION_PSI", "1e-9")
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__MONITORING__THRESHOLDS", '{"psi": 1e-9}')
    monkeypatch.setenv(
        "PIPELINE_FLIGHT_DELAY__MONITORING__SIGNIFICANCE", "0.999"
    )  # hair trigger: critical values near 0
    dag = runpy.run_path(str(DAGS / "monitor.py"))["monitor__flight_delay"]
    dagrun = dag.test(logical_date=dt.datetime(2013, 3, 5, tzinfo=UTC))
    states = {ti.task_id: ti.state for ti in dagrun.get_task_instances()}
    assert states == {"measure": "success", "should_retrain": "success", "request_retrain": "success"}
    with create_session() as session:
        events = [e for e in session.query(AssetEvent).all() if e.source_run_id == dagrun.run_id]
    assert len(events) == 1 and events[0].extra["as_of"] == "2013-03-05T00:00:00+00:00"
    # The PSI threshold is shared with the features, which now cross it too.
    assert any(reason.startswith("prediction drift") for reason in events[0].extra["reasons"])

    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__MONITORING__TRIGGER_PREDICTION_PSI", "100")
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__MONITORING__TRIGGER__MARGIN", "1")  # ROC AUC cannot fall by 1
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__MONITORING__TRIGGER_FEATURE_SHARE", "1")
    dag = runpy.run_path(str(DAGS / "monitor.py"))["monitor__flight_delay"]
    dagrun = dag.test(logical_date=dt.datetime(2013, 3, 6, tzinfo=UTC))
    states = {ti.task_id: ti.state for ti in dagrun.get_task_instances()}
    assert states["request_retrain"] == "skipped"


def test_an_asset_triggered_retrain_runs_as_of_the_request():
    class Event:
        extra = {"as_of": "2013-05-06T00:00:00+00:00"}

    class Dag:
        dag_id = "retrain"

    from dag_toolkit import run_context

    ctx = run_context(
        {
            "dag": Dag(),
            "run_id": "asset_triggered__x",
            "data_interval_start": None,
            "data_interval_end": None,
            "triggering_asset_events": {"a": [Event()]},
        }
    )
    assert ctx.end == dt.datetime(2013, 5, 6, tzinfo=UTC) and ctx.start == dt.datetime(2013, 5, 5, tzinfo=UTC)
