"""Cleanup of run leftovers: staged predictions of crashed runs, run-scoped files under runs/, versions
left pending by a killed retrain; registered versions' artifacts are never removed (local and S3)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import runpy

import pandas as pd
import pytest
from factories import new_version
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from pipeline.cli import main
from pipeline.config import PROJECT_ROOT
from pipeline.data import predictions, schema
from pipeline.models import registry
from pipeline.stages import RunContext, Runtime, cleanup, retrain
from pipeline.stages.rollback import RollbackRequest
from pipeline.stages.rollback import rollback as rollback_stage

UTC = dt.UTC
MODEL = "flight_delay"


def runtime(cfg, as_of: dt.datetime) -> Runtime:
    return Runtime(cfg, RunContext("cleanup", f"test__{as_of.isoformat()}", as_of - dt.timedelta(days=1), as_of))


def staged_rows(rt: Runtime) -> int:
    with rt.warehouse.transaction() as cur:
        cur.execute(f"SELECT count(*) FROM {rt.cfg.predictions.table}_staging")
        return cur.fetchone()[0]


@pytest.fixture(params=["local", "s3"])
def leftovers(request, fresh_seeded_url, tmp_path, make_config, monkeypatch):
    """A warehouse and store holding: v1 registered (its files and snapshot), v2 left pending by a
    killed retrain, predictions staged by a crashed run, an unreferenced and a referenced run file,
    and a file of another model's run. Returns the config and the keys."""
    root = str(tmp_path / "artifacts") if request.param == "local" else request.getfixturevalue("s3_root")
    cfg = make_config(fresh_seeded_url, root)
    rt = runtime(cfg, dt.datetime.now(UTC))
    schema.upgrade(rt.warehouse)
    model_bytes, model_sha = registry.serialize_model(Pipeline([("m", DummyClassifier())]))
    registry.register(
        rt.warehouse, rt.store, new_version("r1"), model_bytes, model_sha, lambda v: {"training_data.parquet": b"x"}
    )

    class Killed(Exception):
        """The retrain killed while it registers its version."""

    def killed_store_put(key, data, overwrite=False):
        raise Killed

    # A retrain killed (kill -9) while writing v2's artifacts: the row stays pending, nothing marks it.
    with monkeypatch.context() as patch:
        patch.setattr(registry, "_set_status", lambda *args, **kwargs: True)
        patch.setattr(rt.store, "put", killed_store_put)
        with pytest.raises(Killed):
            registry.register(rt.warehouse, rt.store, new_version("r2"), model_bytes, model_sha, lambda v: {})
    assert registry.get_version(rt.warehouse, MODEL, 2)["status"] == "pending"

    # A predict run that crashed after staging one partition.
    schema.provision_predictions(rt.warehouse, cfg)
    start = dt.datetime(2013, 3, 1, tzinfo=UTC)
    chunk = pd.DataFrame(
        {"flight_id": [1, 2, 3], "prediction": [0.1, 0.5, 0.9], "score": [0.1, 0.5, 0.9], "predicted_label": [0, 1, 1]}
    ).assign(model_version=1, is_champion=True)
    predictions.stage_partition(
        rt.warehouse,
        cfg.predictions,
        cfg.dataset.key,
        [chunk],
        model_name=MODEL,
        start=start,
        end=start + dt.timedelta(days=1),
        run_id="crashed",
        partition=0,
        partitions=1,
        window=cfg.cutoff_rule.window(start + dt.timedelta(days=1)),
    )
    keys = {
        "batch": f"runs/retrain__{MODEL}/manual__1/training.parquet",
        "orphan": f"runs/predict__{MODEL}/crashed/validation-scoring-abc.json",
        "audited": f"runs/predict__{MODEL}/crashed/validation-scoring-def.json",
        "other_model": "runs/predict__other_model/r/training.parquet",
    }
    for key in keys.values():
        rt.store.put(key, b"{}", overwrite=True)
    rt.warehouse.run(
        "ml/validation_insert",
        {
            "model_name": MODEL,
            "dag_id": f"predict__{MODEL}",
            "run_id": "crashed",
            "batch_kind": "scoring",
            "suite_name": "s",
            "start": start,
            "end": start + dt.timedelta(days=1),
            "row_count": 3,
            "success": True,
            "evaluated": 1,
            "failed": 0,
            "failed_expectations": "[]",
            "artifact_uri": rt.store.uri(keys["audited"]),
        },
    )
    return cfg, keys


def test_cleanup_removes_only_old_leftovers_and_never_a_registered_version(leftovers):
    cfg, keys = leftovers
    now = dt.datetime.now(UTC)

    # Nothing is old enough yet: nothing changes.
    rt = runtime(cfg, now)
    assert cleanup.run(rt) | {"as_of": None} == {
        "model_name": MODEL,
        "as_of": None,
        "staging_rows": 0,
        "run_files": 0,
        "run_files_kept": 0,
        "failed_versions": [],
    }
    assert staged_rows(rt) == 3 and all(rt.store.exists(k) for k in keys.values())
    assert registry.get_version(rt.warehouse, MODEL, 2)["status"] == "pending"

    # Past the pending timeout (6 h) only the pending version is failed, with its reason.
    rt = runtime(cfg, now + dt.timedelta(hours=cfg.training.pending_timeout_hours, minutes=1))
    assert cleanup.run(rt)["failed_versions"] == [2]
    assert staged_rows(rt) == 3
    failed = registry.get_version(rt.warehouse, MODEL, 2)
    assert failed["status"] == "failed" and "retrain was killed" in failed["decision_reason"]

    # A month later: staging rows and the unreferenced run files of this model go.
    rt = runtime(cfg, now + dt.timedelta(days=30))
    result = cleanup.run(rt)
    assert (result["staging_rows"], result["run_files"], result["run_files_kept"]) == (3, 2, 1)
    assert staged_rows(rt) == 0
    assert not rt.store.exists(keys["batch"]) and not rt.store.exists(keys["orphan"])
    assert rt.store.exists(keys["audited"])  # a validation record points at it
    assert rt.store.exists(keys["other_model"])  # another model's runs are its own cleanup's
    # The registered version is whole: every file in its manifest, with the registered bytes.
    v1 = registry.get_version(rt.warehouse, MODEL, 1)
    manifest = json.loads(rt.store.get(f"{MODEL}/1/{registry.MANIFEST_FILE}"))
    for name, digest in manifest.items():
        assert hashlib.sha256(rt.store.get(f"{MODEL}/1/{name}")).hexdigest() == digest
    assert registry.load_model(rt.store, v1) is not None
    assert v1["status"] == "candidate"

    # A rerun of the same interval finds nothing more to do.
    assert cleanup.run(rt) | {"as_of": None} == {
        "model_name": MODEL,
        "as_of": None,
        "staging_rows": 0,
        "run_files": 0,
        "run_files_kept": 1,
        "failed_versions": [],
    }

    # The failed version is never used: not served by a rollback, not reproduced.
    request = RollbackRequest(model_name=MODEL, version=2, valid_from=now, actor="test", note="x")
    with pytest.raises(registry.RegistryError, match="failed"):
        rollback_stage(rt, request)
    with pytest.raises(registry.RegistryError, match="v2 is failed"):
        retrain.snapshot(rt, 2)


def test_served_feature_batches_outlive_run_files_and_never_the_monitor_window(leftovers, make_config):
    cfg, keys = leftovers
    now = dt.datetime.now(UTC)
    batch = f"runs/predict__{MODEL}/scheduled__1/features/abc/part-00001-of-00001.parquet"
    rt = runtime(cfg, now)
    rt.store.put(batch, b"rows", overwrite=True)

    # Past the run files' 14 days, within the batches' 30: the batch stays, the orphan run file goes.
    rt = runtime(cfg, now + dt.timedelta(days=20))
    assert cleanup.run(rt)["run_files"] == 2
    assert rt.store.exists(batch) and not rt.store.exists(keys["orphan"])
    rt = runtime(cfg, now + dt.timedelta(days=31))
    assert cleanup.run(rt)["run_files"] == 1 and not rt.store.exists(batch)

    # A retention below the monitor's window is raised to it: a 7-day window keeps a 5-day-old batch.
    short = make_config(cfg.warehouse.url, cfg.artifacts.root, retention={"served_features_days": 1})
    assert short.served_features_days == short.monitoring.window_days == 7
    rt = runtime(short, now)
    rt.store.put(batch, b"rows", overwrite=True)
    assert cleanup.run(runtime(short, now + dt.timedelta(days=5)))["run_files"] == 0 and rt.store.exists(batch)
    assert cleanup.run(runtime(short, now + dt.timedelta(days=8)))["run_files"] == 1 and not rt.store.exists(batch)


def test_cli_cleanup_cleans_every_model(leftovers, monkeypatch, capsys):
    cfg, keys = leftovers
    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", cfg.warehouse.url)
    monkeypatch.setenv("PIPELINE_ARTIFACTS__ROOT", cfg.artifacts.root)
    if cfg.artifacts.endpoint_url:
        monkeypatch.setenv("PIPELINE_ARTIFACTS__ENDPOINT_URL", cfg.artifacts.endpoint_url)
    as_of = (dt.datetime.now(UTC) + dt.timedelta(days=30)).isoformat()
    assert main(["cleanup", "--as-of", as_of]) == 0
    results = {r["model_name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(results) == {p.stem for p in (PROJECT_ROOT / "config" / "models").glob("*.yaml")}
    assert (results[MODEL]["staging_rows"], results[MODEL]["run_files"], results[MODEL]["failed_versions"]) == (
        3,
        2,
        [2],
    )


def test_registration_outlived_by_its_pending_timeout_is_not_made_candidate(fresh_seeded_url, tmp_path, make_config):
    """A registration still writing when cleanup fails its pending row does not turn it back into a
    candidate: the version stays failed and the retrain says so."""
    cfg = make_config(fresh_seeded_url, str(tmp_path))
    rt = runtime(cfg, dt.datetime.now(UTC))
    schema.upgrade(rt.warehouse)
    model_bytes, model_sha = registry.serialize_model(Pipeline([("m", DummyClassifier())]))

    def artifacts(version: int) -> dict[str, bytes]:  # cleanup runs while the files are written
        registry.fail_stale_pending(rt.warehouse, MODEL, dt.datetime.now(UTC) + dt.timedelta(hours=7), "cleanup/x")
        return {}

    with pytest.raises(registry.RegistryError, match="no longer pending"):
        registry.register(rt.warehouse, rt.store, new_version("r1"), model_bytes, model_sha, artifacts)
    assert registry.get_version(rt.warehouse, MODEL, 1)["status"] == "failed"


def test_cleanup_dag_runs_daily_for_every_model():
    from airflow.serialization.encoders import coerce_to_core_timetable

    dag = runpy.run_path(str(PROJECT_ROOT / "dags" / "cleanup.py"))["cleanup_dag"]
    models = sorted(p.stem for p in (PROJECT_ROOT / "config" / "models").glob("*.yaml"))
    assert coerce_to_core_timetable(dag.timetable).summary == "0 0 * * *"
    clean = dag.get_task("clean")
    assert clean.op_kwargs_expand_input.value == {"model_name": models}
    assert dag.is_paused_upon_creation and all(m in dag.doc_md for m in models)
