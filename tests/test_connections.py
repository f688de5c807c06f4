"""Credentials through Airflow Connections: the DAGs read the warehouse from a Postgres connection and
S3 from an AWS connection (given as AIRFLOW_CONN_<ID> env vars, URI and JSON forms), and no secret
reaches the task logs, the XComs or anything else in Airflow's metadata database, the registry's rows
or the artifact store."""

from __future__ import annotations

import datetime as dt
import json
import runpy
import subprocess
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import boto3
import psycopg2
import pytest
from pydantic import SecretStr

from pipeline.config import ArtifactsConfig, load_config
from pipeline.data import local_pg
from pipeline.data.artifacts import open_store

DAGS = Path(__file__).resolve().parents[1] / "dags"
UTC = dt.UTC


def pg_dump(port: int, database: str, *args: str) -> str:
    """The plain-SQL dump of ``database`` (schema and data) as text."""
    dump = local_pg.server_bindir() / "pg_dump"
    out = subprocess.run(
        [str(dump), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", *args, database],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def test_secret_fields_are_hidden_and_reach_boto3(s3_root, s3_endpoint):
    cfg = ArtifactsConfig(root=s3_root, endpoint_url=s3_endpoint, secret_access_key="sk-visible?", access_key_id="ak")
    assert isinstance(cfg.secret_access_key, SecretStr)
    assert "sk-visible?" not in repr(cfg) and "sk-visible?" not in json.dumps(cfg.model_dump(mode="json"))
    store = open_store(cfg)
    credentials = store.client._request_signer._credentials
    assert (credentials.access_key, credentials.secret_key) == ("ak", "sk-visible?")
    assert store.put("k", b"x") == f"{s3_root}/k"  # moto takes any key pair


@pytest.mark.usefixtures("daily_utc")  # about connections, not forecasts: a daily predict run scores a day
def test_dags_use_the_connections_and_leak_no_secret(
    airflow_db, fresh_seeded_url, pg_port, s3_root, s3_endpoint, monkeypatch, capfd
):
    from airflow.sdk._shared.secrets_masker import redact

    warehouse_password = f"pw-{uuid.uuid4().hex}"
    s3_secret = f"sk-{uuid.uuid4().hex}"
    s3_token = f"tok-{uuid.uuid4().hex}"
    database = urlsplit(fresh_seeded_url).path.lstrip("/")
    role = f"conn_{uuid.uuid4().hex[:8]}"
    with psycopg2.connect(fresh_seeded_url) as conn, conn.cursor() as cur:
        # A role of its own: connecting as it proves the connection's login was used (the test cluster
        # trusts local logins, so the password is carried but not checked).
        cur.execute(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD %s", (warehouse_password,))
    conn.close()

    # The library's own settings point nowhere: only the connections can make the run work.
    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", "postgresql://nobody@127.0.0.1:1/nowhere")
    monkeypatch.setenv("PIPELINE_ARTIFACTS__ROOT", s3_root)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIPELINE_AIRFLOW__WAREHOUSE_CONN_ID", "ml_warehouse")
    monkeypatch.setenv("PIPELINE_AIRFLOW__AWS_CONN_ID", "ml_artifacts")
    monkeypatch.setenv(
        "AIRFLOW_CONN_ML_WAREHOUSE",
        f"postgres://{role}:{quote(warehouse_password)}@127.0.0.1:{pg_port}/{database}",
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_ML_ARTIFACTS",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "AKIDTEST",
                "password": s3_secret,
                "extra": {"aws_session_token": s3_token, "region_name": "us-east-1", "endpoint_url": s3_endpoint},
            }
        ),
    )
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__MODEL__PARAMS", '{"max_iter": 20}')
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__PREDICTIONS__SHADOW_LATEST_CANDIDATE", "false")
    # The CLI and the library alone, without the connections, cannot reach the warehouse.
    assert load_config("flight_delay").warehouse.url.endswith(":1/nowhere")

    run_ids = []
    for kind, day in (("retrain", 4), ("predict", 5)):
        dag = runpy.run_path(str(DAGS / f"{kind}.py"))[f"{kind}__flight_delay"]
        dagrun = dag.test(logical_date=dt.datetime(2013, 3, day, tzinfo=UTC))
        states = {ti.task_id: ti.state for ti in dagrun.get_task_instances()}
        assert dagrun.state == "success", states
        run_ids.append(dagrun.run_id)
    captured = capfd.readouterr()
    logs = captured.out + captured.err  # what Airflow wrote: the task logs, as dag.test prints them
    secrets = [warehouse_password, s3_secret, s3_token]

    # The runs really read the connections: the role's sessions wrote the registry and predictions
    # to this database, and the artifacts went to the connection's endpoint.
    with psycopg2.connect(fresh_seeded_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT row_to_json(m)::text FROM ml.model_versions m")
        versions = [row[0] for row in cur.fetchall()]
        cur.execute("SELECT count(*) FROM ml.flight_delay_predictions WHERE run_id = %s", (run_ids[1],))
        predicted = cur.fetchone()[0]
    conn.close()
    assert len(versions) == 1 and predicted > 500
    bucket, _, prefix = s3_root[5:].partition("/")
    s3 = boto3.client(
        "s3", endpoint_url=s3_endpoint, aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1"
    )
    objects = [obj["Key"] for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    assert f"{prefix}/flight_delay/1/model.joblib" in objects

    # The places a secret could leak to, each shown to hold what the runs produced.
    assert "validate_training_batch" in logs and "score_partition" in logs  # the task logs were captured
    metadata = pg_dump(pg_port, "airflow_test", "--data-only")
    assert all(run_id in metadata for run_id in run_ids)
    with psycopg2.connect(local_pg.url(pg_port, "airflow_test")) as conn, conn.cursor() as cur:
        cur.execute("SELECT value::text FROM xcom WHERE run_id = ANY(%s)", (run_ids,))
        xcoms = [row[0] for row in cur.fetchall()]
    conn.close()
    assert len(xcoms) >= 6  # every task's return value
    registry = pg_dump(pg_port, database, "--schema=ml")
    assert "flight_delay" in registry
    artifacts = b"".join(s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in objects)
    for secret in secrets:
        # Airflow's log masker knows each one, so even a library's DEBUG line (botocore logs its
        # signed request headers, session token included) is masked in the task log.
        assert secret not in str(redact(f"header: {secret}"))
        assert secret not in logs
        assert secret not in metadata and not any(secret in value for value in xcoms)
        assert secret not in registry and not any(secret in row for row in versions)
        assert secret.encode() not in artifacts


def test_a_missing_connection_fails_naming_it(monkeypatch):
    from airflow.exceptions import AirflowNotFoundException
    from dag_toolkit import connection_overrides

    monkeypatch.setenv("PIPELINE_AIRFLOW__WAREHOUSE_CONN_ID", "ml_warehouse_missing")
    with pytest.raises(AirflowNotFoundException, match="ml_warehouse_missing"):
        connection_overrides()


def test_compose_gives_the_dags_connections_to_its_own_services():
    """docker-compose.yaml: the connections the DAGs are told to use exist and point at the
    warehouse and MinIO services with their credentials (as Airflow parses them)."""
    import yaml
    from airflow.models.connection import Connection
    from test_compose import COMPOSE_FILE, _interpolate_tree, _postgres_matches, environment

    services = _interpolate_tree(yaml.safe_load(COMPOSE_FILE.read_text()))["services"]
    minio = environment(services["minio"])
    env = environment(services["airflow-scheduler"])  # LocalExecutor: the scheduler runs the tasks
    warehouse = Connection(uri=env[f"AIRFLOW_CONN_{env['PIPELINE_AIRFLOW__WAREHOUSE_CONN_ID'].upper()}"])
    assert warehouse.conn_type == "postgres"
    _postgres_matches(
        f"postgresql://{warehouse.login}:{warehouse.password}@{warehouse.host}:{warehouse.port}/{warehouse.schema}",
        services,
    )
    aws = Connection.from_json(env[f"AIRFLOW_CONN_{env['PIPELINE_AIRFLOW__AWS_CONN_ID'].upper()}"])
    assert (aws.conn_type, aws.login, aws.password) == ("aws", minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"])
    assert urlsplit(aws.extra_dejson["endpoint_url"])[1] == "minio:9000"
