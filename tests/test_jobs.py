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


def test_a_batch_failing_validation_stops_predict_before_anything_is_written(fresh_seeded_url, tmp_path, make_config):
    cfg = make_config(fresh_seeded_url, str(tmp_path), model={"params": {"max_iter": 20}})
    day = dt.datetime(2013, 3, 4, tzinfo=UTC)
    jobs.retrain(cfg, jobs.RunContext("retrain", "r1", day - dt.timedelta(days=1), day))
    warehouse = jobs.open_warehouse(cfg)
    # A broken upstream load: negative distances for the day to be scored.
    with warehouse.transaction() as cur:
        cur.execute("UPDATE raw.flights SET distance = -distance WHERE time_hour >= %(d)s", {"d": day})
    ctx = jobs.RunContext("predict", "manual__bad", day, day + dt.timedelta(days=1))
    with pytest.raises(ValidationFailedError, match="distance"):
        jobs.predict(cfg, ctx)
    row = warehouse.fetch("ml/validation_results_for_run", {"run_id": "manual__bad"})
    assert len(row) == 1 and row[0]["success"] is False and row[0]["row_count"] > 0
    assert any(f["column"] == "distance" for f in row[0]["failed_expectations"])
    stored = json.loads(open_store(cfg.artifacts).get(ctx.key("validation-scoring.json")))
    assert stored["success"] is False
    with warehouse.transaction() as cur:  # not even the predictions tables were created
        cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'flight_delay_predictions%%'")
        assert cur.fetchone()[0] == 0


def test_a_changed_batch_is_detected(fresh_seeded_url, tmp_path, make_config):
    cfg = make_config(fresh_seeded_url, str(tmp_path))
    ctx = jobs.RunContext(
        "retrain", "manual__x", dt.datetime(2013, 3, 4, tzinfo=UTC), dt.datetime(2013, 3, 5, tzinfo=UTC)
    )
    batch = jobs.extract(cfg, ctx)
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
