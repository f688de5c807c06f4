"""The monitor reads what was served: feature drift from the window's feature batches (the latest
publish per entity), prediction drift and realized performance from the published predictions, each
version's as it served them; the feature query's rows only where no batch can be read, said in the
evidence and the log."""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipeline.cli import main
from pipeline.data.artifacts import open_store
from pipeline.features.batch import read_manifest, read_partition, served_window
from pipeline.features.build import extract_feature_table
from pipeline.models import registry
from pipeline.models.train import known_labels
from pipeline.stages import RunContext, Runtime, monitor, predict, retrain
from pipeline.stages.rollback import RollbackRequest, rollback
from pipeline.stages.runtime import open_warehouse

# About the window's sources, not forecasts: daily runs in UTC with lead 0 (conftest).
pytestmark = pytest.mark.usefixtures("daily_utc")
DAY = dt.timedelta(days=1)
M3, M4, M5, M6 = (dt.datetime(2013, 3, d, tzinfo=dt.UTC) for d in (3, 4, 5, 6))
MODEL = "flight_delay"


def served_by_two_champions(make_config):
    """v1 serves 03-03; a retrain makes v2 champion, which serves 03-04 (twice: a rerun of the cutoff
    under another run id, after the weather before the cutoff was rewritten); a rollback makes v1 champion
    again, which serves 03-05."""

    def prepare(url: str, root: str) -> None:
        cfg = make_config(url, root, model={"params": {"max_iter": 20}})
        wh = open_warehouse(cfg)
        retrain.run(Runtime(cfg, RunContext("retrain", "r1", M3 - DAY, M3)))
        predict.run(Runtime(cfg, RunContext("predict", "p1", M3 - DAY, M3)))
        retrain.run(Runtime(cfg, RunContext("retrain", "r2", M3, M4)))
        if registry.require_champion(wh, MODEL)["version"] != 2:  # the gate kept v1: serve v2 all the same
            registry.rollback(wh, open_store(cfg.artifacts), MODEL, 2, M4, "test", "serve v2")
        predict.run(Runtime(cfg, RunContext("predict", "p2", M3, M4)))
        with wh.transaction() as cur:
            cur.execute("UPDATE nycflights13.weather SET visib = 0 WHERE time_hour >= %s AND time_hour < %s", (M3, M4))
        predict.run(Runtime(cfg, RunContext("predict", "p2b", M3, M4)))
        request = RollbackRequest(model_name=MODEL, version=1, valid_from=M5, actor="test", note="v2 misbehaves")
        rollback(Runtime(cfg, RunContext("rollback", "rb", M4, M5)), request)
        predict.run(Runtime(cfg, RunContext("predict", "p3", M4, M5)))

    return prepare


@pytest.fixture
def served(snapshot, make_config):
    """A copy of the state :func:`served_by_two_champions` leaves, monitored over 3 days: the window of
    the run cut off at 03-06 is exactly the three served days."""

    def restore():
        state = snapshot("served_rollback", served_by_two_champions(make_config))
        cfg = make_config(*state, model={"params": {"max_iter": 20}})
        return cfg.model_copy(update={"monitoring": cfg.monitoring.model_copy(update={"window_days": 3})})

    return restore


def measure(cfg) -> monitor.MonitorResult:
    return monitor.measure(Runtime(cfg, RunContext("monitor", "m", M5, M6)))


def batch_rows(cfg, run_id: str) -> pd.DataFrame:
    wh, store = open_warehouse(cfg), open_store(cfg.artifacts)
    manifest = registry_row(wh, run_id)["manifest"]
    return pd.concat([read_partition(store, f) for f in read_manifest(store, manifest)["files"]], ignore_index=True)


def registry_row(wh, run_id: str) -> dict:
    return wh.fetch("ml/served_batch_find", {"model_name": MODEL, "run_id": run_id, "as_of": None})[0]


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` by flight, categories as text (batches concatenated lose their categorical dtype)."""
    categories = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    return frame.astype({c: object for c in categories}).sort_values("flight_id", ignore_index=True)


def stored(cfg) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """The monitor run's evidence, its drift rows and its realized performance rows."""
    with open_warehouse(cfg).transaction() as cur:
        cur.execute("SELECT evidence FROM ml.retrain_triggers")
        evidence = cur.fetchone()[0]
        cur.execute("SELECT feature, kind, metric, value, current_rows, model_version FROM ml.feature_drift")
        drift = pd.DataFrame(cur.fetchall(), columns=["feature", "kind", "metric", "value", "rows", "version"])
        cur.execute("SELECT day, model_version, metric, value FROM ml.model_performance")
        performance = pd.DataFrame(cur.fetchall(), columns=["day", "version", "metric", "value"])
    return evidence, drift.sort_values(["feature", "metric"], ignore_index=True), performance


def test_a_window_served_by_two_champions_is_measured_on_what_each_served(served, caplog):
    cfg = served()
    caplog.set_level(logging.INFO, logger="pipeline.stages.monitor")
    result = measure(cfg)
    assert result["champion_version"] == 1

    p1, p2, p2b, p3 = (batch_rows(cfg, run) for run in ("p1", "p2", "p2b", "p3"))
    expected = pd.concat([p1, p2b, p3], ignore_index=True)
    assert expected["flight_id"].is_unique and set(p2["flight_id"]) == set(p2b["flight_id"])
    evidence, drift, performance = stored(cfg)
    sources = evidence["sources"]
    assert sources["served_batches"] == 4 and sources["unreadable_batches"] == []
    assert (sources["served_hours"], sources["query_hours"], sources["query_spans"]) == (72.0, 0.0, [])
    assert sources["served_rows"] == evidence["window_rows"] == result["window_rows"] == len(expected)
    assert sources["query_rows"] == 0
    features = drift[drift["kind"] != "prediction"]
    assert set(features["rows"]) == {len(expected)}  # the drift's rows are exactly the served rows
    message = [r.getMessage() for r in caplog.records if "drift window" in r.getMessage()][-1]
    assert f"served: {len(expected)} rows of 4 batches over 72.0 h; query: 0 rows over 0.0 h" in message

    # Two runs scored 03-04: the later publish (after the weather changed) is what was served.
    wh, store = open_warehouse(cfg), open_store(cfg.artifacts)
    window = served_window(wh, store, MODEL, cfg.dataset.key, M3, M6)
    day_2 = window.rows[window.rows["flight_id"].isin(p2b["flight_id"])]
    pd.testing.assert_frame_equal(plain(day_2), plain(p2b), check_dtype=False)
    assert (plain(p2b)["visib"] != plain(p2)["visib"]).any()

    # Prediction drift: v1's published champion predictions (03-03 and 03-05); v2's count apart.
    assert evidence["champion_predictions"] == {"1": len(p1) + len(p3), "2": len(p2b)}
    assert evidence["score_sources"] == {"served": len(p1) + len(p3), "rescored": 0}
    scores = drift[drift["kind"] == "prediction"]
    assert set(scores["rows"]) == {len(p1) + len(p3)} and set(drift["version"]) == {1}

    # Realized performance per version: each version's published predictions, joined to the labels.
    with wh.transaction() as cur:
        cur.execute("SELECT flight_id, model_version, prediction FROM ml.flight_delay_predictions WHERE is_champion")
        made = pd.DataFrame(cur.fetchall(), columns=["flight_id", "model_version", "prediction"])
    ds = cfg.dataset
    labels = known_labels(extract_feature_table(wh, ds, cfg.cutoff_rule, M3, M6, require_label=False), ds, M6)
    joined = made.merge(labels[["flight_id", ds.timestamp, ds.label]], on="flight_id").dropna(subset=[ds.label])
    joined["day"] = joined[ds.timestamp].dt.date
    realized = performance[performance["metric"] == "roc_auc"].set_index(["day", "version"])["value"]
    assert sorted(realized.index) == [(M3.date(), 1), (M4.date(), 2), (M5.date(), 1)]
    for (day, version), group in joined.groupby(["day", "model_version"]):
        value = roc_auc_score(group[ds.label].astype(int), group["prediction"].astype(float))
        assert realized[(day, version)] == pytest.approx(value)


def test_drift_from_served_batches_ignores_later_source_changes_and_the_fallback_says_query(
    served, caplog, capsys, monkeypatch
):
    cfg = served()
    measure(cfg)  # the interval is measured again below: each run replaces its rows
    _, drift_before, _ = stored(cfg)
    with open_warehouse(cfg).transaction() as cur:
        cur.execute(
            "UPDATE nycflights13.weather SET temp = temp + 30, wind_speed = 45 "
            "WHERE time_hour >= %s AND time_hour < %s",
            (M3 - DAY, M6),
        )
        cur.execute(
            "DELETE FROM nycflights13.flights WHERE time_hour >= %s AND time_hour < %s AND flight %% 5 = 0", (M3, M6)
        )
    # The sources of final days changed: restated by `pipeline restate-aggregates`, the aggregates' days are
    # rebuilt and the offline store's days forgotten, to be computed again when next read.
    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", cfg.warehouse.url)
    span = ["--start", f"{M3 - DAY:%Y-%m-%d}", "--end", f"{M6:%Y-%m-%d}"]
    assert main(["restate-aggregates", "--model", MODEL, *span]) == 0
    forgotten = re.search(rf"{cfg.dataset.store.table}: (\d+) stored period\(s\) forgotten", capsys.readouterr().out)
    assert int(forgotten.group(1)) > 0
    measure(cfg)
    evidence, drift_after, _ = stored(cfg)
    assert evidence["sources"]["query_hours"] == 0.0
    pd.testing.assert_frame_equal(drift_after, drift_before)  # features and scores as served

    # The batches are cleaned up from the store: the same interval, measured again, falls back.
    manifests = [p for p in Path(cfg.artifacts.root).rglob("manifest.json") if "features" in p.parts]
    assert len(manifests) == 4
    for path in manifests:
        path.unlink()
    caplog.set_level(logging.INFO, logger="pipeline.stages.monitor")
    caplog.clear()
    measure(cfg)
    evidence, drift_fallback, _ = stored(cfg)
    sources = evidence["sources"]
    assert (sources["served_batches"], sources["served_rows"], len(sources["unreadable_batches"])) == (0, 0, 4)
    assert (sources["served_hours"], sources["query_hours"]) == (0.0, 72.0)
    assert sources["query_spans"] == [[M3.isoformat(), M6.isoformat()]]
    assert 0 < sources["query_rows"] == evidence["window_rows"] < drift_before["rows"].max()  # flights deleted
    message = [r.getMessage() for r in caplog.records if "drift window" in r.getMessage()][-1]
    assert f"query: {sources['query_rows']} rows over 72.0 h" in message and "0 rows of 0 batches" in message
    # The scores are still the published ones (none rescored); the features are the sources' now.
    assert evidence["score_sources"]["rescored"] == 0
    temp = drift_fallback[(drift_fallback["feature"] == "temp") & (drift_fallback["metric"] == "psi")]
    temp_before = drift_before[(drift_before["feature"] == "temp") & (drift_before["metric"] == "psi")]
    assert temp["value"].iloc[0] > temp_before["value"].iloc[0]
