"""retrain then predict through Airflow's dag.test(), against a real PostgreSQL and S3 over HTTP."""

from __future__ import annotations

import datetime as dt
import runpy
from pathlib import Path

import boto3
import pytest
from airflow.sdk.exceptions import ParamValidationError

from pipeline.data.warehouse import Warehouse
from pipeline.metrics import holdout_metric_names

DAGS = Path(__file__).resolve().parents[1] / "dags"
UTC = dt.UTC
# About the DAGs end to end, not forecasts: daily predicts in UTC with lead 0 (conftest); the run of
# logical date D covers [D - 1 day, D) and scores the flights of [D, D + 1 day). tests/test_forecast.py
# runs the demo's hourly New York forecasts.
pytestmark = pytest.mark.usefixtures("daily_utc")


@pytest.fixture
def stack(airflow_db, fresh_seeded_url, s3_root, s3_endpoint, monkeypatch):
    """Environment for the DAGs: this test's warehouse and bucket, a small fast model."""
    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", fresh_seeded_url)
    monkeypatch.setenv("PIPELINE_ARTIFACTS__ROOT", s3_root)
    monkeypatch.setenv("PIPELINE_ARTIFACTS__ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__MODEL__PARAMS", '{"max_iter": 50}')
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__PREDICTIONS__SHADOW_LATEST_CANDIDATE", "false")
    bucket, _, prefix = s3_root[5:].partition("/")
    return {"warehouse": Warehouse(fresh_seeded_url), "bucket": bucket, "prefix": prefix, "endpoint": s3_endpoint}


def run(kind: str, logical_date: dt.datetime | None, model: str = "flight_delay", **conf):
    """``dag.test()`` of the model's ``<kind>__<model>`` DAG, parsed now (a rollback form lists the
    registry's versions as they are now)."""
    dag = runpy.run_path(str(DAGS / f"{kind}.py"))[f"{kind}__{model}"]
    dagrun = dag.test(logical_date=logical_date, run_conf=conf or None)
    return dagrun, {ti.task_id: ti.state for ti in dagrun.get_task_instances()}


def rest_api():
    """An in-process client of Airflow's REST API (the API server's app), as an admin with a JWT."""
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    app = create_app(apps="core")
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    return TestClient(app, base_url="http://localhost/api/v2", headers={"Authorization": f"Bearer {token}"})


def asset_event(api, dag_id: str, run_id: str) -> dict:
    """The extra of the one asset event the run ``run_id`` of ``dag_id`` emitted, as the REST API shows it."""
    events = api.get("/assets/events", params={"source_dag_id": dag_id, "source_run_id": run_id}).json()
    assert events["total_entries"] == 1, events
    return events["asset_events"][0]["extra"]


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
    assert states["resolve_models"] == "failed"
    assert states["publish"] in ("upstream_failed", None)
    assert keys(stack, "") == set()
    # The table is created by the first predict that gets past resolve_models: not this one.
    assert (
        count(
            stack["warehouse"], "SELECT count(*) FROM pg_tables WHERE schemaname = 'ml' AND tablename LIKE '%%pred%%'"
        )
        == 0
    )


def test_retrain_then_predict_then_rerun(stack, monkeypatch):
    wh = stack["warehouse"]
    dagrun, states = run("retrain", dt.datetime(2013, 3, 4, tzinfo=UTC))
    assert dagrun.state == "success", states
    champion = wh.fetch("ml/registry_champion", {"model_name": "flight_delay"})[0]
    assert champion["version"] == 1 and champion["decision"] == "promoted"
    # @weekly: logical date 2013-03-04 (a Monday) covers [02-24, 03-03); the holdout is its last 7 days.
    assert champion["holdout_end"] == dt.datetime(2013, 3, 3, tzinfo=UTC)
    assert champion["holdout_start"] == dt.datetime(2013, 2, 24, tzinfo=UTC)
    assert champion["metrics"]["roc_auc"] > champion["baseline_metrics"]["roc_auc"]
    assert champion["dag_id"] == "retrain__flight_delay" and champion["run_id"] == dagrun.run_id
    api = rest_api()
    event = asset_event(api, "retrain__flight_delay", dagrun.run_id)  # the Asset flight_delay.champion
    assert event == {
        "version": 1,
        "status": "champion",
        "changed": True,
        "reason": champion["decision_reason"],
        "metrics": {k: round(v, 4) if isinstance(v, float) else v for k, v in champion["metrics"].items()},
    }
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

    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__PREDICTIONS__ROWS_PER_PARTITION", "300")  # about 3 mapped partitions
    expected = count(
        wh,
        "SELECT count(*) FROM nycflights13.flights WHERE time_hour + make_interval(mins => minute) "
        ">= '2013-03-05T00:00Z' AND time_hour + make_interval(mins => minute) < '2013-03-06T00:00Z'",
    )
    for attempt in range(2):  # the second run is a rerun of the same interval
        dagrun = run("predict", dt.datetime(2013, 3, 5, tzinfo=UTC))[0]
        mapped = [ti for ti in dagrun.get_task_instances() if ti.task_id == "score_partition"]
        assert dagrun.state == "success" and len(mapped) == -(-expected // 300) >= 3
        assert all(ti.state == "success" for ti in mapped)
        rows = count(wh, "SELECT count(*) FROM ml.flight_delay_predictions")
        distinct = count(wh, "SELECT count(DISTINCT flight_id) FROM ml.flight_delay_predictions")
        assert rows == distinct == expected, f"attempt {attempt}"
    assert count(wh, "SELECT count(DISTINCT run_id) FROM ml.flight_delay_predictions") == 1
    # The run's page: the period it covers as its data interval, and the window it scored in the event
    # of the Asset flight_delay.predictions it updated.
    page = api.get(f"/dags/predict__flight_delay/dagRuns/{dagrun.run_id}").json()
    assert (page["logical_date"], page["data_interval_start"], page["data_interval_end"]) == (
        "2013-03-05T00:00:00Z",
        "2013-03-04T00:00:00Z",
        "2013-03-05T00:00:00Z",
    )
    assert asset_event(api, "predict__flight_delay", dagrun.run_id) == {
        "data_interval": ["2013-03-04T00:00:00+00:00", "2013-03-05T00:00:00+00:00"],
        "scored_window": ["2013-03-05T00:00:00+00:00", "2013-03-06T00:00:00+00:00"],
        "rows": expected,
        "version": 1,
    }
    assert (
        count(
            wh,
            "SELECT count(*) FROM ml.flight_delay_predictions WHERE run_id = %(r)s AND model_version = 1 "
            "AND data_interval_start = '2013-03-04T00:00Z' AND data_interval_end = '2013-03-05T00:00Z' "
            "AND as_of = data_interval_end AND window_start = '2013-03-05T00:00Z' "
            "AND window_end = '2013-03-06T00:00Z' AND score BETWEEN 0 AND 1",
            r=dagrun.run_id,
        )
        == expected
    )
    assert count(wh, "SELECT count(*) FROM ml.flight_delay_predictions_latest") == expected


def test_rollback_shadow_scoring_and_reproducible_retraining(stack, monkeypatch):
    """Two retrains (v1, v2), a reproduction of v1 from its snapshot (v3), shadow scoring with v3,
    then a rollback to v1 through the rollback DAG, and invalid rollbacks that change nothing."""
    import io

    import joblib
    import numpy as np

    from pipeline.features.build import from_parquet

    wh = stack["warehouse"]
    s3 = boto3.client("s3", endpoint_url=stack["endpoint"])

    def artifact(key: str) -> bytes:
        return s3.get_object(Bucket=stack["bucket"], Key=f"{stack['prefix']}/{key}")["Body"].read()

    for day in (4, 11):
        assert run("retrain", dt.datetime(2013, 3, day, tzinfo=UTC), force_promote=True)[0].state == "success"
    dagrun, states = run("retrain", dt.datetime(2013, 3, 18, tzinfo=UTC), from_snapshot_version=1)
    assert dagrun.state == "success", states
    v1, v3 = (wh.fetch("ml/registry_get", {"model_name": "flight_delay", "version": v})[0] for v in (1, 3))
    # Same data, split and config: the same holdout metrics and the same predictions.
    assert v3["reproduces_version"] == 1 and v3["training_data_sha256"] == v1["training_data_sha256"]
    assert (v3["train_start"], v3["holdout_start"], v3["holdout_end"]) == (
        v1["train_start"],
        v1["holdout_start"],
        v1["holdout_end"],
    )
    for name in holdout_metric_names("binary_classification"):
        assert v3["metrics"][name] == pytest.approx(v1["metrics"][name], rel=1e-9, abs=1e-12)
    assert v3["status"] == "candidate" and v3["decision"] == "rejected"
    frame = from_parquet(artifact("flight_delay/1/training_data.parquet"))
    models = [joblib.load(io.BytesIO(artifact(f"flight_delay/{v}/model.joblib"))) for v in (1, 3)]
    features = v1["config"]["dataset"]["numeric_features"] + v1["config"]["dataset"]["categorical_features"]
    np.testing.assert_allclose(*(m.predict_proba(frame[features])[:, 1] for m in models), rtol=1e-12)
    for key, value in {"python_version": v1["python_version"], "sklearn_version": v1["sklearn_version"]}.items():
        assert v3[key] == value
    assert v1["dag_version"] and v1["code_version"] and v1["config"]["model"]["params"]["max_iter"] == 50
    assert b"flight_delay v1" in artifact("flight_delay/1/model_card.html")

    # Shadow scoring: the champion (v2) and challenger v3, twice for the same interval.
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__PREDICTIONS__SHADOW_VERSIONS", "[3]")
    for _ in range(2):
        assert run("predict", dt.datetime(2013, 3, 20, tzinfo=UTC))[0].state == "success"
    flights = count(
        wh,
        "SELECT count(*) FROM nycflights13.flights WHERE time_hour + make_interval(mins => minute) "
        ">= '2013-03-20T00:00Z' AND time_hour + make_interval(mins => minute) < '2013-03-21T00:00Z'",
    )
    with wh.transaction() as cur:
        cur.execute(
            "SELECT model_version, is_champion, count(*), count(DISTINCT flight_id) "
            "FROM ml.flight_delay_predictions GROUP BY 1, 2 ORDER BY 1"
        )
        per_version = cur.fetchall()
    assert per_version == [(2, True, flights, flights), (3, False, flights, flights)]
    comparison = count(
        wh,
        "SELECT entities FROM ml.flight_delay_predictions_shadow_comparison "
        "WHERE champion_version = 2 AND challenger_version = 3",
    )
    assert comparison == flights
    assert count(wh, "SELECT count(*) FROM ml.flight_delay_predictions_latest WHERE model_version = 2") == flights

    # Rollback to v1 through the rollback DAG, without a logical date; then invalid rollbacks change nothing.
    dagrun, states = run("rollback", None, version=1, valid_from="2013-03-21T00:00:00+00:00", note="v2 misbehaves")
    assert dagrun.state == "success", states
    assert wh.fetch("ml/registry_champion", {"model_name": "flight_delay"})[0]["version"] == 1
    live = wh.fetch("ml/champion_at", {"model_name": "flight_delay", "at": dt.datetime(2013, 3, 22, tzinfo=UTC)})
    assert live[0]["version"] == 1 and live[0]["reason"] == "rollback" and live[0]["detail"] == "v2 misbehaves"
    before = (
        wh.fetch("ml/registry_list", {"model_name": "flight_delay"}),
        wh.fetch("ml/champion_history_list", {"model_name": "flight_delay"}),
    )
    event = asset_event(rest_api(), "rollback__flight_delay", dagrun.run_id)  # the Asset flight_delay.champion
    assert (event["version"], event["changed"], event["reason"]) == (1, True, "rollback: v2 misbehaves")
    with pytest.raises(ParamValidationError, match="version"):  # refused by the form: an unknown version
        run("rollback", None, version=42, note="bad")
    # A rollback run cleared or retried after it made its version champion: nothing to do, and it says so.
    dagrun, states = run("rollback", None, version=1, note="again")
    assert dagrun.state == "success", states
    event = asset_event(rest_api(), "rollback__flight_delay", dagrun.run_id)
    assert (event["version"], event["changed"], event["status"]) == (1, False, "champion")
    # A model with nothing to roll back to gets a free field; the task refuses.
    dagrun, states = run("rollback", None, "origin_hourly_delay", version=2, note="bad")
    assert dagrun.state == "failed" and states["rollback"] == "failed"
    after = (
        wh.fetch("ml/registry_list", {"model_name": "flight_delay"}),
        wh.fetch("ml/champion_history_list", {"model_name": "flight_delay"}),
    )
    assert after == before
