"""One feature batch per predict run: planning runs the feature query once and keeps its result in the
artifact store, one file per hash partition; scoring reads only its file, checked against its SHA-256;
what is published is what the batch held, whatever the sources hold afterwards; the batch can be read
back (`pipeline served-features`); partitions of two planning attempts never mix."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.data.artifacts import open_store
from pipeline.data.predictions import IncompleteRunError
from pipeline.data.warehouse import Warehouse
from pipeline.features.batch import FeatureBatchError, read_manifest, read_partition
from pipeline.features.build import extract_feature_table
from pipeline.models import registry
from pipeline.models.predict import score
from pipeline.stages import RunContext, Runtime, predict
from pipeline.stages.runtime import open_warehouse

# About the batch, not forecasts: daily runs in UTC with lead 0; the run of [04-01, 04-02) is cut off
# at 04-02 and scores that day's flights, about a thousand, in partitions of 300.
pytestmark = pytest.mark.usefixtures("daily_utc")
START, END = dt.datetime(2013, 4, 1, tzinfo=dt.UTC), dt.datetime(2013, 4, 2, tzinfo=dt.UTC)


@pytest.fixture
def cfg(april_champion, make_config):
    return make_config(
        april_champion.warehouse.url,
        april_champion.artifacts.root,
        model={"params": {"max_iter": 10}},
        predictions={"rows_per_partition": 300},
    )


def runtime(cfg, run_id: str) -> Runtime:
    return Runtime(cfg, RunContext("predict__flight_delay", run_id, START, END))


def test_a_run_queries_once_and_publishes_what_its_batch_held_after_the_sources_change(cfg, monkeypatch, capsys):
    queries = []
    read_frame = Warehouse.read_frame
    monkeypatch.setattr(Warehouse, "read_frame", lambda self, *a, **k: queries.append(a) or read_frame(self, *a, **k))
    rt = runtime(cfg, "batch")
    models = predict.resolve_models(rt)
    plan = predict.plan_scoring(rt)
    assert len(plan) >= 3 and len(queries) == 1  # counting is part of the one query
    store = open_store(cfg.artifacts)
    manifest = read_manifest(store, plan[0]["batch"])
    assert [spec["file"] for spec in plan] == manifest["files"] and manifest["cutoff"] == END.isoformat()
    batch = pd.concat([read_partition(store, f) for f in manifest["files"]], ignore_index=True)
    assert len(batch) == manifest["rows"] == plan[0]["rows"] == batch["flight_id"].nunique()

    # The sources change after planning: a third of the day's flights go, and the weather before the
    # cutoff is rewritten.
    with open_warehouse(cfg).transaction() as cur:
        cur.execute(
            "DELETE FROM nycflights13.flights WHERE time_hour >= %s AND time_hour < %s AND flight %% 3 = 0",
            (END, END + dt.timedelta(days=1)),
        )
        cur.execute("UPDATE nycflights13.weather SET visib = 0, wind_speed = 40 WHERE time_hour >= %s", (START,))
    now = extract_feature_table(
        open_warehouse(cfg), cfg.dataset, cfg.cutoff_rule, END, END + dt.timedelta(days=1), False
    )
    assert 0 < len(now) < len(batch)

    queries.clear()
    scored = [predict.score_partition(rt, models, spec) for spec in plan]
    assert queries == []  # scoring read the files, not the warehouse
    assert predict.publish(rt, models, plan, scored)["rows"] == len(batch)
    with open_warehouse(cfg).transaction() as cur:
        cur.execute(
            "SELECT flight_id, score FROM ml.flight_delay_predictions WHERE run_id = 'batch' AND is_champion "
            "ORDER BY flight_id"
        )
        published = pd.DataFrame(cur.fetchall(), columns=["flight_id", "score"])
    champion = registry.load_model(store, registry.get_version(open_warehouse(cfg), "flight_delay", models["champion"]))
    expected = score(champion, batch, cfg.dataset, cfg.model.decision_threshold, cfg.task).sort_values("flight_id")
    assert published["flight_id"].tolist() == expected["flight_id"].tolist()
    np.testing.assert_allclose(published["score"], expected["score"], rtol=1e-12)

    # The features behind two predictions, one of a flight since deleted, read back from the batch.
    gone = sorted(set(batch["flight_id"]) - set(now["flight_id"]))[0]
    kept = sorted(set(now["flight_id"]))[0]
    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", cfg.warehouse.url)
    monkeypatch.setenv("PIPELINE_ARTIFACTS__ROOT", cfg.artifacts.root)
    capsys.readouterr()
    args = ["served-features", "--model", "flight_delay", "--as-of", END.isoformat(), "--key", str(gone)]
    assert main([*args, "--key", str(kept)]) == 0
    out = capsys.readouterr()
    rows = {row["flight_id"]: row for row in map(json.loads, out.out.splitlines())}
    assert set(rows) == {gone, kept} and manifest["manifest"] in out.err
    for flight in (gone, kept):
        served = batch[batch["flight_id"] == flight].iloc[0]
        for feature in cfg.dataset.numeric_features:
            value = rows[flight][feature]
            assert (value is None and pd.isna(served[feature])) or value == pytest.approx(served[feature])
    current = now[now["flight_id"] == kept].iloc[0]
    assert any(current[f] != pytest.approx(rows[kept][f]) for f in ("visib", "wind_speed") if f in now)


def test_a_tampered_partition_file_is_refused_and_nothing_is_staged(cfg):
    rt = runtime(cfg, "tampered")
    models = predict.resolve_models(rt)
    plan = predict.plan_scoring(rt)
    store = open_store(cfg.artifacts)
    victim = plan[1]["file"]
    store.put(victim["key"], store.get(plan[0]["file"]["key"]), overwrite=True)  # another partition's bytes
    with pytest.raises(FeatureBatchError, match="differs from the batch"):
        predict.score_partition(rt, models, plan[1])
    with open_warehouse(cfg).transaction() as cur:
        cur.execute("SELECT count(*) FROM ml.flight_delay_predictions_staging WHERE run_id = 'tampered'")
        assert cur.fetchone()[0] == 0


def test_partitions_of_two_planning_attempts_never_mix(cfg):
    rt = runtime(cfg, "replanned")
    models = predict.resolve_models(rt)
    first, second = predict.plan_scoring(rt), predict.plan_scoring(rt)  # a retried plan: a new batch
    assert first[0]["batch"] != second[0]["batch"] and len(first) == len(second)
    scored = [predict.score_partition(rt, models, spec) for spec in first[:-1]]
    scored.append(predict.score_partition(rt, models, second[-1]))
    with pytest.raises(IncompleteRunError, match="2 feature batches"):
        predict.publish(rt, models, second, scored)
    with open_warehouse(cfg).transaction() as cur:
        cur.execute("SELECT count(*) FROM ml.flight_delay_predictions WHERE run_id = 'replanned'")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM ml.served_batches WHERE run_id = 'replanned'")
        assert cur.fetchone()[0] == 0
