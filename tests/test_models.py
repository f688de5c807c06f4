"""Training, evaluation, promotion rule, registry and prediction writes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipeline.config import load_config
from pipeline.data.artifacts import LocalStore
from pipeline.data.warehouse import Warehouse, WarehouseError
from pipeline.models import predict, registry
from pipeline.models.evaluate import EvaluationError, baseline_metrics, classification_metrics, promotion_decision
from pipeline.models.train import TimeSplit, TrainingDataError, make_estimator, split_by_time, train_model

UTC = dt.UTC
CFG = load_config(model={"params": {"max_iter": 20}})


def synthetic_batch(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """A feature table shaped like the configured dataset, one row per hour from 2013-01-01, with a
    label that depends on two features."""
    rng = np.random.default_rng(seed)
    ds = CFG.dataset
    frame = pd.DataFrame({c: rng.normal(size=n) for c in ds.numeric_features})
    for c in ds.categorical_features:
        frame[c] = pd.Categorical(rng.choice(["A", "B", "C"], size=n))
    frame[ds.key] = np.arange(1, n + 1, dtype="int64")
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
    train, holdout = split_by_time(frame, cut, CFG.dataset)
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
        split_by_time(synthetic_batch(), cut, CFG.dataset)


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
    m = classification_metrics(y, p)
    assert m["roc_auc"] == pytest.approx(8 / 9)  # 8 of the 9 (positive, negative) pairs are ordered right
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert m["log_loss"] == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    base = baseline_metrics(np.array([0, 0, 0, 1]), y)
    assert base["base_rate"] == 0.25 and base["roc_auc"] == 0.5
    assert base["brier"] == pytest.approx(np.mean((0.25 - y) ** 2))
    with pytest.raises(EvaluationError):
        classification_metrics(np.zeros(5), np.full(5, 0.3))


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


def _new_version(run_id: str) -> registry.NewVersion:
    t = dt.datetime(2013, 2, 1, tzinfo=UTC)
    return registry.NewVersion(
        model_name="m",
        metrics={"roc_auc": 0.7},
        baseline_metrics={"roc_auc": 0.5},
        params={},
        train_start=t,
        train_end=t,
        holdout_start=t,
        holdout_end=t + dt.timedelta(days=7),
        train_rows=10,
        holdout_rows=5,
        training_data_sha256="0" * 64,
        code_version="test",
        dag_id="retrain",
        run_id=run_id,
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
    wh.run("ml/schema")
    store = LocalStore(tmp_path)
    data, sha = model_bytes
    v1 = registry.register(wh, store, _new_version("r1"), data, sha, {"metrics.json": b"{}"})
    assert (v1["version"], v1["status"]) == (1, "candidate")
    assert registry.champion(wh, "m") is None
    assert registry.decide(wh, "m", 1, "promoted", "first", None, None)["status"] == "champion"

    with pytest.raises(OSError):
        registry.register(wh, FailingStore(tmp_path), _new_version("r2"), data, sha, {"metrics.json": b"{}"})
    assert registry.get_version(wh, "m", 2)["status"] == "failed"

    v3 = registry.register(wh, store, _new_version("r3"), data, sha, {})
    assert v3["version"] == 3  # a failed version's number is never reused
    row = registry.decide(wh, "m", 3, "rejected", "worse", 0.7, 1)
    assert (row["status"], row["decision"]) == ("candidate", "rejected")
    assert registry.champion(wh, "m")["version"] == 1
    with pytest.raises(registry.RegistryError, match="not an undecided candidate"):
        registry.decide(wh, "m", 3, "promoted", "again", 0.7, 1)

    v4 = registry.register(wh, store, _new_version("r4"), data, sha, {})
    # Compared against champion 2 (stale: the champion is 1), so a "promoted" verdict is turned down.
    assert registry.decide(wh, "m", v4["version"], "promoted", "better", 0.6, 2)["decision"] == "rejected"
    v5 = registry.register(wh, store, _new_version("r5"), data, sha, {})
    assert registry.decide(wh, "m", v5["version"], "forced", "operator", None, 1)["status"] == "champion"
    statuses = {r["version"]: r["status"] for r in wh.fetch("ml/registry_list", {"model_name": "m"})}
    assert statuses == {1: "archived", 2: "failed", 3: "candidate", 4: "candidate", 5: "champion"}


def test_tampered_model_artifact_is_refused(empty_url, tmp_path, model_bytes):
    wh = Warehouse(empty_url)
    wh.run("ml/schema")
    store = LocalStore(tmp_path)
    data, sha = model_bytes
    record = registry.register(wh, store, _new_version("r1"), data, sha, {})
    assert registry.load_model(store, record).predict_proba is not None
    path = tmp_path / "m" / "1" / registry.MODEL_FILE
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(registry.ArtifactIntegrityError, match="refusing to load"):
        registry.load_model(store, record)


def test_prediction_writes_replace_the_interval_atomically(empty_url):
    wh = Warehouse(empty_url)
    cfg = CFG.predictions
    predict.ensure_table(wh, cfg, "flight_id", "bigint")
    start, end = dt.datetime(2013, 3, 4, tzinfo=UTC), dt.datetime(2013, 3, 5, tzinfo=UTC)
    scored = pd.DataFrame(
        {
            "flight_id": np.arange(1, 101, dtype="int64"),
            "score": np.linspace(0, 1, 100),
            "predicted_label": (np.linspace(0, 1, 100) >= 0.5).astype("int16"),
        }
    )
    kwargs = {"model_name": "flight_delay", "model_version": 1, "is_champion": True, "start": start, "end": end}
    assert predict.write_predictions(wh, cfg, "flight_id", scored, run_id="a", **kwargs) == 100
    predict.write_predictions(wh, cfg, "flight_id", scored.iloc[:60], run_id="b", **kwargs)
    rows = wh.fetch("ml/predictions_summary", table=cfg.table)[0]
    assert rows["row_count"] == 60 and rows["intervals"] == 1

    broken = scored.assign(score=scored["score"] * 2)  # violates the score CHECK halfway through the batch
    with pytest.raises(WarehouseError, match="check constraint"):
        predict.write_predictions(wh, cfg, "flight_id", broken, run_id="c", **kwargs)
    with wh.transaction() as cur:
        cur.execute("SELECT count(*), min(run_id), max(run_id) FROM ml.flight_delay_predictions")
        assert cur.fetchone() == (60, "b", "b")
