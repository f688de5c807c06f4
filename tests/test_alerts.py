"""Alerts through Airflow's notifiers to a local HTTP receiver: a task that fails for good (run with
dag.test, which runs task failure callbacks), the predict DAG's deadline alert (its callback run the
way the triggerer runs it), and monitor's retrain decision."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import runpy
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[1] / "dags"
# About alerts, not forecasts: daily predicts in UTC with lead 0 (conftest).
pytestmark = pytest.mark.usefixtures("daily_utc")
UTC = dt.UTC


@pytest.fixture
def receiver(monkeypatch):
    """A webhook on 127.0.0.1 (a free port, in a thread): the alerts connection points at its
    ``/hooks/T0/B0`` path, given as an AIRFLOW_CONN_ env var (JSON). Returns the list of (path, JSON
    body) it received."""
    received: list[tuple[str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            """No request log lines on stderr."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T0/B0"
    monkeypatch.setenv("AIRFLOW_CONN_ALERTS_WEBHOOK", json.dumps({"conn_type": "http", "host": url}))
    monkeypatch.setenv("PIPELINE_ALERTS__WEBHOOK_CONN_ID", "alerts_webhook")
    yield received
    server.shutdown()
    thread.join()


def iso(day: int) -> str:
    return dt.datetime(2013, 3, day, tzinfo=UTC).isoformat()


def test_a_failed_task_and_a_missed_deadline_alert_the_webhook(
    airflow_db, fresh_seeded_url, s3_root, s3_endpoint, receiver, monkeypatch
):
    from airflow.api_fastapi.core_api.datamodels.dag_run import DAGRunResponse
    from airflow.models import DagRun
    from airflow.triggers.callback import CallbackTrigger
    from airflow.utils.session import create_session

    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", fresh_seeded_url)
    monkeypatch.setenv("PIPELINE_ARTIFACTS__ROOT", s3_root)
    monkeypatch.setenv("PIPELINE_ARTIFACTS__ENDPOINT_URL", s3_endpoint)
    dag = runpy.run_path(str(DAGS / "predict.py"))["predict__flight_delay"]
    assert dag.deadline is None  # off by default

    dagrun = dag.test(logical_date=dt.datetime(2013, 3, 5, tzinfo=UTC))  # no champion yet: resolve_models fails

    assert dagrun.state == "failed"
    assert len(receiver) == 1  # the failed task only: the tasks it held back did not run
    path, alert = receiver[0]
    assert path == "/hooks/T0/B0"
    assert {k: alert[k] for k in ("event", "dag_id", "run_id", "task_id")} == {
        "event": "task_failed",
        "dag_id": "predict__flight_delay",
        "run_id": dagrun.run_id,
        "task_id": "resolve_models",
    }
    assert (alert["data_interval_start"], alert["data_interval_end"]) == (iso(4), iso(5))
    assert alert["detail"].startswith("NoChampionError: ") and "flight_delay" in alert["detail"]
    assert "/dags/predict__flight_delay/runs/" in alert["url"] and "/tasks/resolve_models" in alert["url"]
    assert alert["title"] in alert["text"] and alert["url"] in alert["text"]

    # The deadline, switched on: "not published within N minutes", its callback run as the triggerer
    # runs an AsyncCallback, with the context the scheduler gives it (the run as the REST API shows it).
    monkeypatch.setenv("PIPELINE_ALERTS__DEADLINE_MINUTES", "30")
    deadline = runpy.run_path(str(DAGS / "predict.py"))["predict__flight_delay"].deadline[0]
    assert type(deadline.reference).__name__ == "DagRunQueuedAtDeadline"
    assert deadline.interval == dt.timedelta(minutes=30)
    with create_session() as session:
        run = DAGRunResponse.model_validate(session.get(DagRun, dagrun.id)).model_dump(mode="json")
    context = {"dag_run": run, "deadline": {"id": "d1", "deadline_time": "2013-03-05T00:30:00+00:00"}}
    trigger = CallbackTrigger(deadline.callback.path, {**deadline.callback.kwargs, "context": context})

    async def run_trigger():
        return [event.payload async for event in trigger.run()]

    events = asyncio.run(run_trigger())
    assert events[-1]["state"] == "success", events
    assert len(receiver) == 2
    late = receiver[1][1]
    assert {k: late[k] for k in ("event", "dag_id", "run_id", "task_id", "detail")} == {
        "event": "deadline_missed",
        "dag_id": "predict__flight_delay",
        "run_id": dagrun.run_id,
        "task_id": None,
        "detail": "predictions not published within 30 min",
    }
    assert (late["data_interval_start"], late["data_interval_end"]) == (iso(4), iso(5))
    assert late["url"].endswith(f"/dags/predict__flight_delay/runs/{dagrun.run_id}")


@pytest.mark.parametrize("switch", [True, False])
def test_a_monitor_decision_alerts_when_switched_on(airflow_db, monitored, receiver, monkeypatch, switch):
    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", monitored.warehouse.url)
    monkeypatch.setenv("PIPELINE_ARTIFACTS__ROOT", monitored.artifacts.root)
    # A hair trigger, so that the decision is a retrain.
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__MONITORING__TRIGGER__PREDICTION_DRIFT", "true")
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__MONITORING__TRIGGER_PREDICTION_PSI", "1e-9")
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__MONITORING__THRESHOLDS", '{"psi": 1e-9}')
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__MONITORING__SIGNIFICANCE", "0.999")
    monkeypatch.setenv("PIPELINE_ALERTS__MONITOR_DECISIONS", str(switch).lower())
    dag = runpy.run_path(str(DAGS / "monitor.py"))["monitor__flight_delay"]

    dagrun = dag.test(logical_date=dt.datetime(2013, 3, 5, tzinfo=UTC))

    states = {ti.task_id: ti.state for ti in dagrun.get_task_instances()}
    assert states["request_retrain"] == "success"  # the decision was a retrain
    if not switch:
        assert receiver == []
        return
    assert len(receiver) == 1
    alert = receiver[0][1]
    assert {k: alert[k] for k in ("event", "dag_id", "run_id", "task_id")} == {
        "event": "monitor_decision",
        "dag_id": "monitor__flight_delay",
        "run_id": dagrun.run_id,
        "task_id": "measure",
    }
    assert (alert["data_interval_start"], alert["data_interval_end"]) == (iso(4), iso(5))
    assert alert["detail"].startswith("RETRAIN: ") and "prediction drift" in alert["detail"]
    assert "/dags/monitor__flight_delay/runs/" in alert["url"] and "/tasks/measure" in alert["url"]
