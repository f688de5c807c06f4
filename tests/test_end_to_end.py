"""retrain then predict through Airflow's dag.test(), against a real PostgreSQL and S3 over HTTP."""

from __future__ import annotations

import datetime as dt
import runpy
from pathlib import Path

import boto3
import pytest

from pipeline.data.warehouse import Warehouse

DAGS = Path(__file__).resolve().parents[1] / "dags"
UTC = dt.UTC


@pytest.fixture
def stack(airflow_db, fresh_seeded_url, s3_root, s3_endpoint, monkeypatch):
    """Environment for the DAGs: this test's warehouse and bucket, a small fast model."""
    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", fresh_seeded_url)
    monkeypatch.setenv("PIPELINE_ARTIFACTS__ROOT", s3_root)
    monkeypatch.setenv("PIPELINE_ARTIFACTS__ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("PIPELINE_MODEL__PARAMS", '{"max_iter": 50}')
    bucket, _, prefix = s3_root[5:].partition("/")
    return {"warehouse": Warehouse(fresh_seeded_url), "bucket": bucket, "prefix": prefix, "endpoint": s3_endpoint}


def run(name: str, logical_date: dt.datetime, **conf):
    dag = runpy.run_path(str(DAGS / f"{name}.py"))[f"{name}_dag"]
    dagrun = dag.test(logical_date=logical_date, run_conf=conf or None)
    return dagrun, {ti.task_id: ti.state for ti in dagrun.get_task_instances()}


def keys(stack, under: str) -> set[str]:
    s3 = boto3.client("s3", endpoint_url=stack["endpoint"])
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=stack["bucket"], Prefix=f"{stack['prefix']}/{under}")
    return {obj["Key"].removeprefix(f"{stack['prefix']}/") for page in pages for obj in page.get("Contents", [])}


def count(warehouse: Warehouse, query: str, **params) -> int:
    with warehouse.transaction() as cur:
        cur.execute(query, params)
        return cur.fetchone()[0]


def test_predict_without_champion_fails_and_writes_nothing(stack):
    dagrun, states = run("predict", dt.datetime(2013, 3, 5, tzinfo=UTC))
    assert dagrun.state == "failed"
    assert states["resolve_champion"] == "failed"
    assert states["score"] in ("upstream_failed", None)
    assert keys(stack, "") == set()
    assert (
        count(
            stack["warehouse"],
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'ml' "
            "AND table_name = 'flight_delay_predictions'",
        )
        == 0
    )


def test_retrain_then_predict_then_rerun(stack):
    wh = stack["warehouse"]
    dagrun, states = run("retrain", dt.datetime(2013, 3, 4, tzinfo=UTC))
    assert dagrun.state == "success", states
    champion = wh.fetch("ml/registry_champion", {"model_name": "flight_delay"})[0]
    assert champion["version"] == 1 and champion["decision"] == "promoted"
    # @weekly: logical date 2013-03-04 (a Monday) covers [02-24, 03-03); the holdout is its last 7 days.
    assert champion["holdout_end"] == dt.datetime(2013, 3, 3, tzinfo=UTC)
    assert champion["holdout_start"] == dt.datetime(2013, 2, 24, tzinfo=UTC)
    assert champion["metrics"]["roc_auc"] > champion["baseline_metrics"]["roc_auc"]
    assert champion["dag_id"] == "retrain" and champion["run_id"] == dagrun.run_id
    assert {
        f"flight_delay/1/{name}"
        for name in (
            "model.joblib",
            "metrics.json",
            "params.json",
            "feature_schema.json",
            "validation.json",
            "training_data.parquet",
            "training_data.sha256",
            "manifest.json",
        )
    } <= keys(stack, "flight_delay/1/")
    validation = wh.fetch("ml/registry_get", {"model_name": "flight_delay", "version": 1})
    assert validation[0]["status"] == "champion"
    assert (
        count(wh, "SELECT count(*) FROM ml.validation_results WHERE run_id = %(r)s AND success", r=dagrun.run_id) == 1
    )

    expected = count(
        wh,
        "SELECT count(*) FROM raw.flights WHERE time_hour + make_interval(mins => minute) "
        ">= '2013-03-04T00:00Z' AND time_hour + make_interval(mins => minute) < '2013-03-05T00:00Z'",
    )
    for attempt in range(2):  # the second run is a rerun of the same interval
        dagrun, states = run("predict", dt.datetime(2013, 3, 5, tzinfo=UTC))
        assert dagrun.state == "success", states
        rows = count(wh, "SELECT count(*) FROM ml.flight_delay_predictions")
        distinct = count(wh, "SELECT count(DISTINCT flight_id) FROM ml.flight_delay_predictions")
        assert rows == distinct == expected, f"attempt {attempt}"
    assert count(wh, "SELECT count(DISTINCT run_id) FROM ml.flight_delay_predictions") == 1
    assert (
        count(
            wh,
            "SELECT count(*) FROM ml.flight_delay_predictions WHERE run_id = %(r)s AND model_version = 1 "
            "AND data_interval_start = '2013-03-04T00:00Z' AND data_interval_end = '2013-03-05T00:00Z' "
            "AND score BETWEEN 0 AND 1",
            r=dagrun.run_id,
        )
        == expected
    )
    assert count(wh, "SELECT count(*) FROM ml.flight_delay_predictions_latest") == expected
