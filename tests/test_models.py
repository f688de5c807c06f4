"""Training, evaluation, promotion rule, registry and prediction writes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from factories import new_version
from sklearn.metrics import roc_auc_score

from pipeline.config import load_config
from pipeline.data import predictions, schema
from pipeline.data.artifacts import ArtifactError, LocalStore
from pipeline.data.warehouse import Warehouse, WarehouseError
from pipeline.models import registry
from pipeline.models.evaluate import EvaluationError, baseline_metrics, holdout_metrics, promotion_decision
from pipeline.models.train import TimeSplit, TrainingDataError, make_estimator, split_by_time, train_model

UTC = dt.UTC
TASK = "binary_classification"
CFG = load_config("flight_delay", model={"params": {"max_iter": 20}})


def synthetic_batch(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """A feature table shaped like the configured dataset, one row per hour from 2013-01-01, with a
    label that depends on two features."""
    rng = np.random.default_rng(seed)
    ds = CFG.dataset
    frame = pd.DataFrame({c: rng.normal(size=n) for c in ds.numeric_features})
    for c in ds.categorical_features:
        frame[c] = pd.Categorical(rng.choice(["A", "B", "C"], size=n))
    frame[ds.key[0]] = np.arange(1, n + 1, dtype="int64")
    frame[ds.timestamp] = pd.date_range("2013-01-01", periods=n, freq="h", tz="UTC")
    logit = 1.5 * frame["temp"] - 1.0 * frame["distance"] + (frame["carrier"] == "A") * 1.0
    frame[ds.label] = pd.array((rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int), dtype="Int64")
    frame.loc[frame.index[::50], ds.label] = pd.NA  # "cancelled": no label
    return frame


def test_time_split_follows_time():
    split = TimeSplit.ending_at(dt.datetime(2013, 3, 3, tzinfo=UTC), CFG.training)
    assert split.holdout_end - split.holdout_start == dt.timedelta(days=CFG.training.holdout_days)
    assert split.holdout_start - split.train_start == dt.timedelta(days=CFG.training.window_days)
    frame = synthetic_batch()
    cut = TimeSplit(
        dt.datetime(2013, 1, 1, tzinfo=UTC), dt.datetime(2013, 1, 20, tzinfo=UTC), dt.datetime(2013, 1, 26, tzinfo=UTC)
    )
    train, holdout = split_by_time(frame, cut, CFG.dataset, TASK)
    ts = CFG.dataset.timestamp
    assert train[ts].max() < cut.holdout_start <= holdout[ts].min()
    assert holdout[ts].max() < cut.holdout_end
    assert train[CFG.dataset.label].dtype == "int64" and holdout[CFG.dataset.label].notna().all()
    labelled = frame[frame[CFG.dataset.label].notna()]
    assert len(train) + len(holdout) == len(labelled[labelled[ts] < cut.holdout_end])


def test_split_with_empty_holdout_is_a_clear_error():
    cut = TimeSplit(
        dt.datetime(2013, 1, 1, tzinfo=UTC), dt.datetime(2014, 1, 1, tzinfo=UTC), dt.datetime(2014, 1, 8, tzinfo=UTC)
    )
    with pytest.raises(TrainingDataError, match="0 holdout rows"):
        split_by_time(synthetic_batch(), cut, CFG.dataset, TASK)


def test_training_is_deterministic_and_learns():
    frame = synthetic_batch(1500).dropna(subset=[CFG.dataset.label])
    frame[CFG.dataset.label] = frame[CFG.dataset.label].astype(int)
    train, holdout = frame.iloc[:1000], frame.iloc[1000:]
    first = train_model(train, CFG.model, CFG.dataset).predict_proba(holdout[CFG.dataset.features])[:, 1]
    second = train_model(train, CFG.model, CFG.dataset).predict_proba(holdout[CFG.dataset.features])[:, 1]
    np.testing.assert_array_equal(first, second)
    assert roc_auc_score(holdout[CFG.dataset.label], first) > 0.7


def test_unknown_estimator_names_the_key():
    bad = CFG.model.model_copy(update={"estimator": "sklearn.ensemble.NoSuchClassifier"})
    with pytest.raises(ValueError, match="model.estimator"):
        make_estimator(bad)


def test_metrics_match_their_definitions():
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    m = holdout_metrics(TASK, y, p)
    assert m["roc_auc"] == pytest.approx(8 / 9)  # 8 of the 9 (positive, negative) pairs are ordered right
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert m["log_loss"] == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    base = baseline_metrics(TASK, np.array([0, 0, 0, 1]), y)
    assert base["base_rate"] == 0.25 and base["roc_auc"] == 0.5
    assert base["brier"] == pytest.approx(np.mean((0.25 - y) ** 2))
    with pytest.raises(EvaluationError):
        holdout_metrics(TASK, np.zeros(5), np.full(5, 0.3))


@pytest.mark.parametrize(
    ("metric", "challenger", "champion", "margin", "force", "decision"),
    [
        ("roc_auc", 0.70, None, 0.0, False, "promoted"),
        ("roc_auc", 0.72, 0.70, 0.01, False, "promoted"),
        ("roc_auc", 0.705, 0.70, 0.01, False, "rejected"),
        ("roc_auc", 0.70, 0.70, 0.0, False, "rejected"),
        ("log_loss", 0.45, 0.50, 0.0, False, "promoted"),
        ("log_loss", 0.55, 0.50, 0.0, False, "rejected"),
        ("roc_auc", 0.60, 0.70, 0.0, True, "forced"),
    ],
)
def test_promotion_decision(metric, challenger, champion, margin, force, decision):
    got, reason = promotion_decision(metric, challenger, champion, margin, force)
    assert got == decision
    assert metric in reason


def files(content: dict[str, bytes]):
    return lambda version: content


def decision(verdict: str, expected_champion: int | None, day: int = 1) -> registry.Decision:
    return registry.Decision(
        verdict,
        f"{verdict} in a test",
        "roc_auc",
        0.7,
        0.6,
        expected_champion,
        dt.datetime(2013, 3, day, tzinfo=UTC),
        "test/run",
    )


class FailingStore(LocalStore):
    """A store whose writes fail after the first file, as S3 might mid-run."""

    def put(self, key, data, overwrite=False):
        if not key.endswith("model.joblib"):
            raise OSError("connection reset")
        return super().put(key, data, overwrite)


@pytest.fixture
def model_bytes():
    frame = synthetic_batch(300).dropna(subset=[CFG.dataset.label])
    frame[CFG.dataset.label] = frame[CFG.dataset.label].astype(int)
    return registry.serialize_model(train_model(frame, CFG.model, CFG.dataset))


def test_registry_versions_promotion_and_failures(empty_url, tmp_path, model_bytes):
    wh = Warehouse(empty_url)
    schema.upgrade(wh)
    store = LocalStore(tmp_path)
    data, sha = model_bytes
    v1 = registry.register(wh, store, new_version("r1", "m"), data, sha, files({"metrics.json": b"{}"}))
    assert (v1["version"], v1["status"]) == (1, "candidate")
    assert registry.champion(wh, "m") is None
    assert registry.decide(wh, "m", 1, decision("promoted", None))["status"] == "champion"

    with pytest.raises(OSError):
        registry.register(wh, FailingStore(tmp_path), new_version("r2", "m"), data, sha, files({"metrics.json": b"{}"}))
    assert registry.get_version(wh, "m", 2)["status"] == "failed"

    v3 = registry.register(wh, store, new_version("r3", "m"), data, sha, files({}))
    assert v3["version"] == 3  # a failed version's number is never reused
    row = registry.decide(wh, "m", 3, decision("rejected", 1))
    assert (row["status"], row["decision"]) == ("candidate", "rejected")
    assert registry.champion(wh, "m")["version"] == 1
    with pytest.raises(registry.RegistryError, match="not an undecided candidate"):
        registry.decide(wh, "m", 3, decision("promoted", 1))

    v4 = registry.register(wh, store, new_version("r4", "m"), data, sha, files({}))
    # Compared against champion 2 (stale: the champion is 1), so a "promoted" verdict is turned down.
    assert registry.decide(wh, "m", v4["version"], decision("promoted", 2))["decision"] == "rejected"
    v5 = registry.register(wh, store, new_version("r5", "m"), data, sha, files({}))
    assert registry.decide(wh, "m", v5["version"], decision("forced", 1, day=5))["status"] == "champion"
    statuses = {r["version"]: r["status"] for r in wh.fetch("ml/registry_list", {"model_name": "m"})}
    assert statuses == {1: "archived", 2: "failed", 3: "candidate", 4: "candidate", 5: "champion"}


def test_tampered_model_artifact_is_refused(empty_url, tmp_path, model_bytes):
    wh = Warehouse(empty_url)
    schema.upgrade(wh)
    store = LocalStore(tmp_path)
    data, sha = model_bytes
    record = registry.register(wh, store, new_version("r1", "m"), data, sha, files({}))
    assert registry.load_model(store, record).predict_proba is not None
    path = tmp_path / "m" / "1" / registry.MODEL_FILE
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(registry.ArtifactIntegrityError, match="refusing to load"):
        registry.load_model(store, record)


def test_prediction_writes_replace_the_interval_atomically(empty_url, tmp_path, model_bytes):
    wh = Warehouse(empty_url)
    schema.upgrade(wh)
    data, sha = model_bytes
    for run in ("r1", "r2"):  # versions 1 and 2 of flight_delay, which the rows reference
        registry.register(wh, LocalStore(tmp_path), new_version(run, "flight_delay"), data, sha, files({}))
    cfg = CFG.predictions
    with wh.transaction() as cur:  # an empty database has no feature query to describe: the key is bigint
        cur.execute(predictions.predictions_ddl(cfg, {"flight_id": "bigint"}, TASK))
    start, end = dt.datetime(2013, 3, 4, tzinfo=UTC), dt.datetime(2013, 3, 5, tzinfo=UTC)
    scores = np.linspace(0, 1, 100)
    one = pd.DataFrame(
        {
            "flight_id": np.arange(1, 101, dtype="int64"),
            "prediction": scores,
            "score": scores,
            "predicted_label": (scores >= 0.5).astype("int16"),
            "model_version": 1,
            "is_champion": True,
        }
    )
    both = pd.concat(
        [one, one.assign(model_version=2, is_champion=False, score=scores[::-1], prediction=scores[::-1])],
        ignore_index=True,
    )
    interval = {"model_name": "flight_delay", "start": start, "end": end}
    window = (end, end + dt.timedelta(days=1))  # the entities a run cut off at `end` scores (lead 0, daily)
    served = {"batch": "runs/predict__flight_delay/test/features/0/manifest.json", "batch_rows": 100, "window": window}

    def write(frame: pd.DataFrame, run_id: str, partitions: int = 2) -> int:
        """Stage ``frame`` as ``partitions`` partitions of a run (in chunks of 30 rows), then publish."""
        for p in range(partitions):
            part = frame[frame["flight_id"] % partitions == p]
            chunks = [part.iloc[i : i + 30] for i in range(0, len(part), 30)]
            predictions.stage_partition(
                wh,
                cfg,
                ["flight_id"],
                chunks,
                run_id=run_id,
                partition=p,
                partitions=partitions,
                window=window,
                **interval,
            )
        ids = {"run_id": run_id, "partitions": partitions, "rows": len(frame), **served, **interval}
        return predictions.publish(wh, cfg, ["flight_id"], TASK, **ids)

    assert write(both, "a") == 200
    assert write(both, "b") == 200  # a rerun: replaced, not added
    stage = {"run_id": "b", "partition": 0, "partitions": 1, "window": window, **interval}
    predictions.stage_partition(wh, cfg, ["flight_id"], [both.iloc[:10]], **stage)
    predictions.stage_partition(wh, cfg, ["flight_id"], [both], **stage)  # a retried partition
    assert (
        predictions.publish(wh, cfg, ["flight_id"], TASK, run_id="b", partitions=1, rows=200, **served, **interval)
        == 200
    )
    assert write(one.iloc[:60], "c") == 60
    rows = wh.fetch("ml/predictions_summary", {"model_name": "flight_delay"}, table=cfg.table)[0]
    assert rows["row_count"] == 60 and rows["intervals"] == 1

    predictions.stage_partition(
        wh, cfg, ["flight_id"], [one], run_id="d", partition=0, partitions=2, window=window, **interval
    )
    with pytest.raises(predictions.IncompleteRunError, match="1 of 2 partitions"):
        predictions.publish(wh, cfg, ["flight_id"], TASK, run_id="d", partitions=2, rows=100, **served, **interval)
    broken = one.assign(
        score=one["score"] * 2, prediction=one["score"] * 2
    )  # violates the score CHECK halfway through the batch
    with pytest.raises(WarehouseError, match="check constraint"):
        write(broken, "e", partitions=1)
    unregistered = one.assign(model_version=7)  # no such version: the foreign key refuses it
    with pytest.raises(WarehouseError, match="foreign key"):
        write(unregistered, "f", partitions=1)
    with wh.transaction() as cur:
        cur.execute("SELECT count(*), min(run_id), max(run_id) FROM ml.flight_delay_predictions")
        assert cur.fetchone() == (60, "c", "c")


def test_champion_history_answers_which_version_was_live(empty_url, tmp_path, model_bytes):
    wh = Warehouse(empty_url)
    schema.upgrade(wh)
    store = LocalStore(tmp_path)
    data, sha = model_bytes
    for run in ("r1", "r2", "r3"):
        registry.register(wh, store, new_version(run, "m"), data, sha, files({}))
    registry.decide(wh, "m", 1, decision("promoted", None, day=1))
    registry.decide(wh, "m", 2, decision("promoted", 1, day=8))
    registry.decide(wh, "m", 3, decision("rejected", 2, day=15))
    registry.rollback(wh, store, "m", 1, dt.datetime(2013, 3, 20, tzinfo=UTC), "cli:test", "v2 misbehaves")
    live = {day: registry.champion_at(wh, "m", dt.datetime(2013, 3, day, tzinfo=UTC)) for day in (1, 7, 8, 19, 25)}
    assert {day: row["version"] for day, row in live.items()} == {1: 1, 7: 1, 8: 2, 19: 2, 25: 1}
    assert live[25]["reason"] == "rollback" and live[25]["detail"] == "v2 misbehaves"
    assert registry.champion_at(wh, "m", dt.datetime(2013, 2, 28, tzinfo=UTC)) is None
    history = wh.fetch("ml/champion_history_list", {"model_name": "m"})
    assert [(h["old_version"], h["new_version"], h["reason"]) for h in history] == [
        (None, 1, "promoted"),
        (1, 2, "promoted"),
        (2, 1, "rollback"),
    ]
    assert history[1]["new_metric"] == 0.7 and history[1]["old_metric"] == 0.6


@pytest.mark.parametrize("case", ["unknown", "failed", "already_champion", "missing_artifact", "tampered"])
def test_invalid_rollback_changes_nothing(empty_url, tmp_path, model_bytes, case):
    wh = Warehouse(empty_url)
    schema.upgrade(wh)
    store = LocalStore(tmp_path)
    data, sha = model_bytes
    registry.register(wh, store, new_version("r1", "m"), data, sha, files({}))
    registry.decide(wh, "m", 1, decision("promoted", None))
    registry.register(wh, store, new_version("r2", "m"), data, sha, files({}))
    registry.decide(wh, "m", 2, decision("promoted", 1, day=2))
    with pytest.raises(OSError):
        registry.register(wh, FailingStore(tmp_path), new_version("r3", "m"), data, sha, files({"x": b""}))
    version = {"unknown": 9, "failed": 3, "already_champion": 2, "missing_artifact": 1, "tampered": 1}[case]
    model_file = tmp_path / "m" / "1" / registry.MODEL_FILE
    if case == "missing_artifact":
        model_file.unlink()
    if case == "tampered":
        model_file.write_bytes(b"not the registered model")
    before = (
        wh.fetch("ml/registry_list", {"model_name": "m"}),
        wh.fetch("ml/champion_history_list", {"model_name": "m"}),
    )
    with pytest.raises((registry.RegistryError, ArtifactError)):
        registry.rollback(wh, store, "m", version, dt.datetime(2013, 3, 9, tzinfo=UTC), "cli:test", "try")
    after = (
        wh.fetch("ml/registry_list", {"model_name": "m"}),
        wh.fetch("ml/champion_history_list", {"model_name": "m"}),
    )
    assert after == before


def test_training_logs_how_long_it_took(caplog):
    frame = synthetic_batch(300).dropna(subset=[CFG.dataset.label])
    frame[CFG.dataset.label] = frame[CFG.dataset.label].astype(int)
    with caplog.at_level("INFO", logger="pipeline.models.train"):
        train_model(frame, CFG.model, CFG.dataset)
    assert any(m.startswith(f"trained {CFG.model.estimator} in ") for m in caplog.messages)


def test_a_runtime_caps_native_threads_at_the_models_setting():
    from threadpoolctl import threadpool_info

    from pipeline.stages import Runtime

    for threads in (2, 1):
        Runtime(load_config("flight_delay", model={"threads": threads}))
        pools = [p for p in threadpool_info() if p["user_api"] == "openmp"]  # sklearn's, loaded by this module
        assert pools and all(p["num_threads"] == threads for p in pools)
