"""Registry faults survived: a failing artifact store burns no
version and is reported in one line; a tampered or missing champion artifact is found before training
and does not block a retrain; a first champion must beat the baseline; a snapshot retrain refuses a
version that never registered whole, and a bad override exits 2 naming its key."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from factories import new_version
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from pipeline.cli import main
from pipeline.data import schema
from pipeline.data.artifacts import ArtifactError, LocalStore
from pipeline.models import registry
from pipeline.models.evaluate import promotion_decision
from pipeline.stages import RunContext, Runtime, retrain
from pipeline.stages.runtime import open_warehouse

UTC = dt.UTC
MODEL = "flight_delay"
DAY = dt.datetime(2013, 3, 4, tzinfo=UTC)
NO_VALIDATION = {"suite_name": "not run in this test"}


MODEL_BYTES, MODEL_SHA = registry.serialize_model(Pipeline([("m", DummyClassifier())]))


def runtime(cfg, run_id: str = "manual__1") -> Runtime:
    return Runtime(cfg, RunContext(f"retrain__{MODEL}", run_id, DAY - dt.timedelta(days=7), DAY))


def versions(rt: Runtime) -> dict[int, str]:
    return {r["version"]: r["status"] for r in rt.warehouse.fetch("ml/registry_list", {"model_name": MODEL})}


def use_env(monkeypatch, cfg) -> None:
    """Point the CLI at the test's warehouse and artifact store."""
    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", cfg.warehouse.url)
    monkeypatch.setenv("PIPELINE_ARTIFACTS__ROOT", cfg.artifacts.root)


# --- a failed artifact write ----------------------------------------------------------------------


def test_local_store_errors_are_its_own(tmp_path: Path, monkeypatch):
    store = LocalStore(tmp_path)

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    with monkeypatch.context() as patch:
        patch.setattr("pipeline.data.artifacts.tempfile.mkstemp", refused)
        with pytest.raises(ArtifactError, match=r"cannot write .*m/1/model.joblib: Permission denied"):
            store.put("m/1/model.joblib", b"x")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ArtifactError, match="cannot write"):  # a folder where a file is
        LocalStore(tmp_path / "file").put("m/1/model.joblib", b"x")
    with pytest.raises(ArtifactError, match="cannot read"):  # a folder where a file should be
        store.get("m")


class FlakyStore(LocalStore):
    """A store whose writes fail ``failures`` times per key before they succeed, as a throttled S3 might."""

    def __init__(self, root: Path, failures: int) -> None:
        super().__init__(root)
        self.failures = failures
        self.tries: dict[str, int] = {}

    def put(self, key, data, overwrite=False):
        self.tries[key] = self.tries.get(key, 0) + 1
        if self.tries[key] <= self.failures:
            raise ArtifactError(f"cannot write {self.uri(key)}: SlowDown")
        return super().put(key, data, overwrite)


def test_a_failed_write_is_retried_in_place_not_by_a_new_version(empty_url, tmp_path, make_config, monkeypatch):
    monkeypatch.setattr(registry, "WRITE_MAX_WAIT_S", 0.01)
    rt = runtime(make_config(empty_url, str(tmp_path)))
    schema.upgrade(open_warehouse(rt.cfg))

    flaky = FlakyStore(tmp_path, failures=registry.WRITE_ATTEMPTS - 1)
    row = registry.register(rt.warehouse, flaky, new_version("r1"), MODEL_BYTES, MODEL_SHA, lambda v: {"a.json": b"{}"})
    assert row["status"] == "candidate" and versions(rt) == {1: "candidate"}
    assert set(flaky.tries.values()) == {registry.WRITE_ATTEMPTS}
    assert registry.load_model(flaky, row) is not None

    # A write that fails every try: one failed version, with the store's reason recorded.
    broken = FlakyStore(tmp_path, failures=registry.WRITE_ATTEMPTS)
    with pytest.raises(ArtifactError, match="SlowDown"):
        registry.register(rt.warehouse, broken, new_version("r2"), MODEL_BYTES, MODEL_SHA, lambda v: {})
    assert list(broken.tries.values()) == [registry.WRITE_ATTEMPTS]  # gave up on the first file
    failed = registry.get_version(rt.warehouse, MODEL, 2)
    assert failed["status"] == "failed" and "SlowDown" in failed["decision_reason"]


def test_an_unwritable_store_fails_a_retrain_before_training_and_burns_no_version(
    fresh_seeded_url, tmp_path, make_config, monkeypatch, capsys
):
    cfg = make_config(fresh_seeded_url, str(tmp_path / "artifacts"), model={"params": {"max_iter": 5}})
    rt = runtime(cfg)
    schema.upgrade(open_warehouse(rt.cfg))
    batch = retrain.extract(rt)
    (tmp_path / "artifacts" / MODEL).write_bytes(b"")  # the model's folder cannot be made

    def never(*args, **kwargs):
        raise AssertionError("trained although the store cannot take the version")

    monkeypatch.setattr("pipeline.models.train.train_model", never)
    for _ in range(3):  # the task and two Airflow retries
        with pytest.raises(ArtifactError, match="nothing was trained and no version was reserved"):
            retrain.train(runtime(cfg), batch, NO_VALIDATION)
    assert versions(rt) == {}

    # From the CLI: one line and exit 1, no traceback.
    use_env(monkeypatch, cfg)
    monkeypatch.setenv("PIPELINE_ARTIFACTS__ROOT", str(tmp_path / "artifacts" / MODEL))  # a file, not a folder
    assert main(["retrain", "--model", MODEL, "--end", DAY.date().isoformat()]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ArtifactError: cannot write") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# --- a tampered or missing champion artifact ------------------------------------------------------


@pytest.mark.parametrize("damage", ["tampered", "missing"])
def test_a_broken_champion_is_found_before_training_and_a_challenger_still_registers(
    damage, fresh_seeded_url, tmp_path, make_config, caplog
):
    cfg = make_config(fresh_seeded_url, str(tmp_path), model={"params": {"max_iter": 10}})
    rt = runtime(cfg)
    schema.upgrade(open_warehouse(rt.cfg))
    batch = retrain.extract(rt)
    first = retrain.promote(rt, retrain.train(rt, batch, NO_VALIDATION))
    assert (first["version"], first["status"]) == (1, "champion")
    model_file = tmp_path / MODEL / "1" / registry.MODEL_FILE
    if damage == "tampered":
        model_file.write_bytes(model_file.read_bytes() + b"\0")
    else:
        model_file.unlink()

    caplog.set_level(logging.INFO)
    caplog.clear()  # the first retrain's records
    trained = retrain.train(runtime(cfg, "manual__2"), batch, NO_VALIDATION)
    messages = [r.getMessage() for r in caplog.records]
    problem = next(i for i, m in enumerate(messages) if "champion v1 cannot be loaded" in m)
    training = next(i for i, m in enumerate(messages) if m.startswith("training "))
    assert problem < training  # found before the training time is spent
    assert "pipeline rollback --model flight_delay" in messages[problem]
    assert (trained["version"], trained["champion_version"], trained["champion_metric"]) == (2, 1, None)

    decision = retrain.promote(runtime(cfg, "manual__2"), trained)
    assert decision["decision"] == "promoted" and decision["status"] == "champion"
    assert "champion v1 cannot be loaded" in decision["reason"] and "vs baseline" in decision["reason"]
    assert versions(rt) == {1: "archived", 2: "champion"}


# --- a first champion must beat the baseline ------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "challenger", "baseline", "margin", "decision"),
    [
        ("roc_auc", 0.50, 0.50, 0.0, "rejected"),  # no better than a constant
        ("roc_auc", 0.55, 0.50, 0.1, "rejected"),  # better, by less than the margin
        ("roc_auc", 0.65, 0.50, 0.1, "promoted"),
        ("rmse", 12.0, 11.0, 0.0, "rejected"),  # lower is better
        ("rmse", 10.0, 11.0, 0.5, "promoted"),
    ],
)
def test_without_a_champion_the_baseline_is_the_bar(metric, challenger, baseline, margin, decision):
    got, reason = promotion_decision(metric, challenger, None, 0.0, baseline=baseline, min_baseline_gain=margin)
    assert got == decision
    assert f"vs baseline {baseline:.4f}" in reason and f">= {margin}" in reason


def test_a_first_model_no_better_than_the_baseline_is_not_promoted(empty_url, tmp_path, make_config):
    cfg = make_config(empty_url, str(tmp_path), promotion={"min_baseline_gain": 0.05})
    rt = runtime(cfg)
    schema.upgrade(open_warehouse(rt.cfg))

    def trained(version: int, challenger: float) -> retrain.Trained:
        registry.register(rt.warehouse, rt.store, new_version(f"r{version}"), MODEL_BYTES, MODEL_SHA, lambda v: {})
        return retrain.Trained(
            model_name=MODEL,
            version=version,
            metric="roc_auc",
            challenger_metric=challenger,
            metrics={"roc_auc": challenger},
            champion_version=None,
            champion_metric=None,
            champion_problem=None,
            baseline_metric=0.5,
            artifact_uri="",
            reproduces=None,
        )

    weak = retrain.promote(rt, trained(1, 0.52))
    assert (weak["decision"], weak["status"]) == ("rejected", "candidate")
    assert "no champion to compare; roc_auc 0.5200 vs baseline 0.5000" in weak["reason"]
    assert registry.champion(rt.warehouse, MODEL) is None
    assert retrain.promote(rt, trained(2, 0.60))["status"] == "champion"


# --- snapshot of an unregistered version, a bad override ------------------------------------------


@pytest.mark.parametrize("status", ["failed", "pending"])
def test_retrain_from_snapshot_refuses_a_version_that_never_registered(
    status, empty_url, tmp_path, make_config, monkeypatch, capsys
):
    monkeypatch.setattr(registry, "WRITE_MAX_WAIT_S", 0.01)
    cfg = make_config(empty_url, str(tmp_path))
    rt = runtime(cfg)
    schema.upgrade(open_warehouse(rt.cfg))
    with monkeypatch.context() as patch:
        if status == "pending":  # a retrain killed while writing: nothing marks the row
            patch.setattr(registry, "_set_status", lambda *args, **kwargs: True)
        with pytest.raises(ArtifactError):
            registry.register(rt.warehouse, FlakyStore(tmp_path, failures=99), new_version("r1"), b"", "", lambda v: {})
    assert versions(rt) == {1: status}

    use_env(monkeypatch, cfg)
    assert main(["retrain-from-snapshot", "--model", MODEL, "--version", "1"]) == 1
    err = capsys.readouterr().err
    assert f"v1 is {status}" in err and "only a registered version" in err
    assert versions(rt) == {1: status}  # nothing new was registered


def test_a_bad_window_days_override_exits_2_naming_the_key(capsys):
    assert main(["retrain", "--model", MODEL, "--end", "2013-03-04", "--window-days", "-5"]) == 2
    err = capsys.readouterr().err
    assert "training.window_days" in err and "greater than or equal to 1" in err
    assert "validation error" not in err and "errors.pydantic.dev" not in err
