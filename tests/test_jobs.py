"""Stage functions: a failing batch stops the run with a stored result; CLI errors name the key."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from pipeline import jobs
from pipeline.cli import main
from pipeline.data.artifacts import open_store
from pipeline.validation import ValidationFailedError

UTC = dt.UTC


def test_failed_validation_is_stored_and_stops_the_run(fresh_seeded_url, tmp_path, make_config):
    cfg = make_config(fresh_seeded_url, str(tmp_path))
    ctx = jobs.RunContext(
        "predict", "manual__bad", dt.datetime(2013, 3, 4, tzinfo=UTC), dt.datetime(2013, 3, 5, tzinfo=UTC)
    )
    batch = jobs.extract(cfg, ctx, "scoring")
    store = open_store(cfg.artifacts)
    # Corrupt the stored batch the way a broken upstream load would: negative distances everywhere.
    from pipeline.features.build import from_parquet, to_parquet

    frame = from_parquet(store.get(batch["key"]))
    frame["distance"] = -frame["distance"]
    data, sha = to_parquet(frame)
    store.put(batch["key"], data, overwrite=True)
    with pytest.raises(ValidationFailedError, match="distance"):
        jobs.validate(cfg, ctx, {**batch, "sha256": sha})
    row = jobs.open_warehouse(cfg).fetch("ml/validation_results_for_run", {"run_id": "manual__bad"})
    assert len(row) == 1 and row[0]["success"] is False and row[0]["row_count"] == batch["rows"]
    assert any(f["column"] == "distance" for f in row[0]["failed_expectations"])
    stored = json.loads(store.get(ctx.key("validation-scoring.json")))
    assert stored["success"] is False


def test_a_changed_batch_is_detected(fresh_seeded_url, tmp_path, make_config):
    cfg = make_config(fresh_seeded_url, str(tmp_path))
    ctx = jobs.RunContext(
        "predict", "manual__x", dt.datetime(2013, 3, 4, tzinfo=UTC), dt.datetime(2013, 3, 5, tzinfo=UTC)
    )
    batch = jobs.extract(cfg, ctx, "scoring")
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        jobs.validate(cfg, ctx, {**batch, "sha256": "0" * 64})


def test_run_context_needs_a_real_interval():
    day = dt.datetime(2013, 3, 4, tzinfo=UTC)
    with pytest.raises(ValueError, match="logical date"):
        jobs.RunContext("predict", "manual__1", day, day)
    with pytest.raises(ValueError, match="no data interval"):
        jobs.RunContext.from_airflow({"run_id": "manual__2", "data_interval_start": None, "data_interval_end": None})


def test_cli_reports_a_bad_config_by_key(monkeypatch, capsys):
    monkeypatch.setenv("PIPELINE_PROMOTION__METRIC", "accuracy")
    assert main(["summary"]) == 2
    assert "promotion.metric" in capsys.readouterr().err


def test_cli_predict_without_warehouse_is_a_clear_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PIPELINE_WAREHOUSE__LOCAL_DIR", str(tmp_path / "nowhere"))
    assert main(["predict", "--end", "2013-03-05"]) == 1
    assert "make warehouse" in capsys.readouterr().err
