"""The CeleryExecutor for real: scripts/airflow-celery.sh starts Redis, a scheduler, a DAG processor,
a triggerer, the API server and two Celery workers on free ports with their own AIRFLOW_HOME; a
predict run over a day of about 1,000 flights is triggered through the REST API; its mapped
``score_partition`` tasks must have run on both workers (Celery's own record of the worker that ran
each task, ``celery_taskmeta.worker``, joined to the task instances), each reading only its own file of
the run's feature batch, the server must have run the feature query once for the run
(``pg_stat_statements``), and ``publish`` must still have swapped the interval atomically.

Part of ``make test`` (setup with retrain and stack start, the predict run, stop; far longer while other
suites share the cores). Marked ``celery``: ``make celery-check`` runs it alone (``pytest -m celery``).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg2
import pytest
from psycopg2 import sql

from pipeline import cli
from pipeline.config import load_config
from pipeline.data.warehouse import Warehouse
from pipeline.features.build import count_entities

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "airflow-celery.sh"
DAG_ID = "predict__flight_delay"
# The run of [2013-03-12, 03-13) scores 03-13, about 1,000 flights: 300 per partition gives several
# partitions for two workers.
START, END = dt.datetime(2013, 3, 12, tzinfo=dt.UTC), dt.datetime(2013, 3, 13, tzinfo=dt.UTC)
ROWS_PER_PARTITION = 300
RUN_TIMEOUT_S = 900


def _free_port(count: int = 1) -> int:
    """A free port on 127.0.0.1 followed by ``count - 1`` free ones."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            first = sock.getsockname()[1]
        try:
            for port in range(first, first + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
    raise AssertionError(f"no {count} consecutive free ports")


@pytest.fixture
def celery_airflow(airflow_db, fresh_seeded_url, s3_root, s3_endpoint, monkeypatch) -> Iterator[dict]:
    """A champion for flight_delay (retrained through the CLI), then the Celery stack, stopped afterwards.

    Its AIRFLOW_HOME and logs are in ``.local/test-celery/<pid>`` (pytest's shared temporary folder
    can be pruned by other sessions while the stack runs), removed afterwards.
    """
    pipeline_env = {
        "PIPELINE_WAREHOUSE__URL": fresh_seeded_url,
        "PIPELINE_ARTIFACTS__ROOT": s3_root,
        "PIPELINE_ARTIFACTS__ENDPOINT_URL": s3_endpoint,
        "PIPELINE_FLIGHT_DELAY__MODEL__PARAMS": '{"max_iter": 50}',
        "PIPELINE_FLIGHT_DELAY__PREDICTIONS__SHADOW_LATEST_CANDIDATE": "false",
        "PIPELINE_FLIGHT_DELAY__PREDICTIONS__ROWS_PER_PARTITION": str(ROWS_PER_PARTITION),
        # About executors, not forecasts: daily predicts in UTC with lead 0, so the run of [03-12, 03-13)
        # is cut off at 03-13 and scores that day's flights.
        "PIPELINE_FLIGHT_DELAY__SCHEDULE__PREDICT": "@daily",
        "PIPELINE_FLIGHT_DELAY__SCHEDULE__TIMEZONE": "UTC",
        "PIPELINE_FLIGHT_DELAY__PREDICTIONS__LEAD": "PT0S",
    }
    for key, value in pipeline_env.items():
        monkeypatch.setenv(key, value)
    assert cli.main(["retrain", "--model", "flight_delay", "--end", "2013-03-11"]) == 0

    home = ROOT / ".local" / "test-celery" / str(os.getpid())
    shutil.rmtree(home, ignore_errors=True)
    api_port = _free_port()
    env = {key: value for key, value in os.environ.items() if key != "AIRFLOW__CORE__UNIT_TEST_MODE"}
    env |= {
        "AIRFLOW_HOME": str(home / "airflow"),
        "VENV_BIN": str(Path(sys.executable).parent),
        "CELERY_LOG_DIR": str(home / "logs"),
        "REDIS_PORT": str(_free_port()),
        "API_PORT": str(api_port),
        "LOG_SERVER_PORT": str(_free_port(3)),
        # Only this test's run: unpausing must not also start the current (2026, empty) interval.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    }
    try:
        start = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=400)
        assert start.returncode == 0, start.stdout + start.stderr + _log_tails(home)
        stack = {"api": f"http://127.0.0.1:{api_port}", "home": home, "warehouse": fresh_seeded_url, "passed": False}
        yield stack
    finally:
        stop = subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=300)
        print(stop.stdout, stop.stderr)
    assert subprocess.run([str(SCRIPT), "status"], env=env, capture_output=True).returncode != 0
    if stack["passed"]:  # a failed check keeps its logs
        shutil.rmtree(home, ignore_errors=True)


def _log_tails(home: Path, lines: int = 25) -> str:
    """The last lines of each component's log and each task's log (kept in ``home`` after a failure)."""
    logs = sorted((home / "logs").glob("*.log")) + sorted((home / "airflow" / "logs").glob("dag_id=*/**/*.log"))
    return "".join(
        f"\n--- {log.relative_to(home)}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        for log in logs
    )


def _metadata(query: str, params: dict) -> list[tuple]:
    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    conn.close()
    return rows


def _wait(what: str, check, timeout: float, logs: Path):
    deadline = time.monotonic() + timeout
    while (value := check()) is None:
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f}s" + _log_tails(logs)
        time.sleep(2)
    return value


@pytest.mark.celery
def test_mapped_partitions_run_on_both_celery_workers_and_publish_swaps_the_interval(celery_airflow):
    logs = celery_airflow["home"]
    cfg = load_config("flight_delay")
    warehouse = Warehouse(celery_airflow["warehouse"])
    # The simple auth manager with all users admins (as `make airflow`) hands out a token without credentials.
    token = httpx.get(f"{celery_airflow['api']}/auth/token", timeout=60).json()["access_token"]
    api = httpx.Client(
        base_url=f"{celery_airflow['api']}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )

    # The DAG processor has parsed the DAG file: the DAG exists (paused, as every DAG is created).
    dag = _wait("DAG parsed", lambda: (r := api.get(f"/dags/{DAG_ID}")).is_success and r.json() or None, 300, logs)
    assert dag["is_paused"] is True
    assert api.patch(f"/dags/{DAG_ID}", json={"is_paused": False}).is_success
    body = {
        "logical_date": START.isoformat(),
        "data_interval_start": START.isoformat(),
        "data_interval_end": END.isoformat(),
    }
    warehouse.run("local/statements_reset")  # count the run's statements on the server (pg_stat_statements)
    triggered = api.post(f"/dags/{DAG_ID}/dagRuns", json=body)
    assert triggered.is_success, triggered.text
    run_id = triggered.json()["dag_run_id"]

    def finished():
        state = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}").json()["state"]
        return state if state in ("success", "failed") else None

    assert _wait("predict run", finished, RUN_TIMEOUT_S, logs) == "success", _log_tails(logs)
    # The server ran the feature query once for the whole run, whatever the partitions and workers.
    marker = cfg.dataset.sql_path.read_text().splitlines()[0]
    executions = warehouse.fetch("local/feature_query_calls", {"marker": marker})[0]["calls"]
    print(f"feature query executions on the server during the run: {executions}")
    assert executions == 1

    # Which worker ran each mapped task: Celery's result record (result_extended) of the task id the
    # executor gave it, task_instance.external_executor_id.
    tasks = _metadata(
        """SELECT ti.map_index, ti.state, ti.hostname, ti.pid, ti.executor, m.worker
           FROM task_instance ti LEFT JOIN celery_taskmeta m ON m.task_id = ti.external_executor_id
           WHERE ti.dag_id = %(dag)s AND ti.run_id = %(run)s AND ti.task_id = 'score_partition'
           ORDER BY ti.map_index""",
        {"dag": DAG_ID, "run": run_id},
    )
    print("score_partition task instances (map_index, state, hostname, pid, executor, celery worker):")
    for row in tasks:
        print("  ", row)
    entities = count_entities(warehouse, cfg.dataset, cfg.cutoff_rule, *cfg.cutoff_rule.window(END))
    warehouse.engine.dispose()
    assert len(tasks) == math.ceil(entities / ROWS_PER_PARTITION) >= 3, (entities, tasks)
    assert all(state == "success" for _, state, *_ in tasks)
    workers = {worker for *_, worker in tasks}
    assert None not in workers, "a mapped task has no Celery result record"
    assert {worker.split("@")[0] for worker in workers} == {"worker1", "worker2"}, workers
    assert len({pid for *_, pid, _, _ in tasks}) == len(tasks)

    # Publish swapped the interval: what the partitions staged is exactly what is published, once.
    def returned(task: str) -> dict[int, dict]:
        rows = _metadata(
            "SELECT map_index, value FROM xcom WHERE dag_id = %(dag)s AND run_id = %(run)s"
            " AND task_id = %(task)s AND key = 'return_value'",
            {"dag": DAG_ID, "run": run_id, "task": task},
        )
        return dict(rows)

    staged = returned("score_partition")
    (published,) = returned("publish").values()
    (plan,) = returned("plan_scoring").values()
    assert sorted(staged) == [map_index for map_index, *_ in tasks]
    # Each mapped task read its own file of the run's one feature batch, and no other.
    print("files read per partition:")
    for (map_index, *_, worker), spec in zip(tasks, plan, strict=True):
        print(f"   {map_index}: {worker.split('@')[0]} read {staged[map_index]['file']}")
        assert staged[map_index]["file"] == spec["file"]["key"] and staged[map_index]["batch"] == spec["batch"]
    assert len({value["file"] for value in staged.values()}) == len(tasks)
    assert len({spec["batch"] for spec in plan}) == 1
    total_staged = sum(value["staged"] for value in staged.values())
    print(f"staged per partition: {sorted((i, v['staged']) for i, v in staged.items())}; published: {published}")
    assert sum(value["rows"] for value in staged.values()) == entities
    assert published["rows"] == total_staged == entities  # one version (the champion) scores each entity

    schema, table = cfg.predictions.table.split(".")
    query = sql.SQL(
        "SELECT count(*), count(DISTINCT ({columns}, model_version, is_champion)) FROM {table}"
        " WHERE data_interval_start = %(start)s AND data_interval_end = %(end)s"
    ).format(columns=sql.SQL(", ").join(map(sql.Identifier, cfg.dataset.key)), table=sql.Identifier(schema, table))
    with psycopg2.connect(celery_airflow["warehouse"]) as conn, conn.cursor() as cur:
        cur.execute(query, {"start": START, "end": END})
        rows, distinct = cur.fetchone()
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, f"{table}_staging")))
        (left_in_staging,) = cur.fetchone()
    conn.close()
    assert rows == distinct == total_staged
    assert left_in_staging == 0
    celery_airflow["passed"] = True
