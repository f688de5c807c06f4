"""Stages: a failing batch stops the run with a stored result; CLI errors name the key."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.data.artifacts import open_store
from pipeline.stages import RunContext, Runtime, predict, retrain
from pipeline.stages.runtime import open_warehouse
from pipeline.validation import ValidationFailedError

UTC = dt.UTC


def test_a_batch_failing_validation_stops_predict_before_anything_is_written(fresh_seeded_url, tmp_path, make_config):
    cfg = make_config(fresh_seeded_url, str(tmp_path), model={"params": {"max_iter": 20}})
    day = dt.datetime(2013, 3, 4, tzinfo=UTC)
    retrain.run(Runtime(cfg, RunContext("retrain", "r1", day - dt.timedelta(days=1), day)))
    warehouse = open_warehouse(cfg)
    # A broken upstream load: negative distances for the day to be scored.
    with warehouse.transaction() as cur:
        cur.execute("UPDATE nycflights13.flights SET distance = -distance WHERE time_hour >= %(d)s", {"d": day})
    ctx = RunContext("predict__flight_delay", "manual__bad", day, day + dt.timedelta(days=1))
    with pytest.raises(ValidationFailedError, match="distance"):
        predict.run(Runtime(cfg, ctx))
    rows = warehouse.fetch("ml/validation_results_for_run", {"run_id": "manual__bad"})
    assert len(rows) == 1 and rows[0]["success"] is False and rows[0]["row_count"] > 0
    assert rows[0]["model_name"] == "flight_delay"
    assert any(f["column"] == "distance" for f in rows[0]["failed_expectations"])
    stored = json.loads(open_store(cfg.artifacts).get(rows[0]["artifact_uri"].removeprefix(str(tmp_path) + "/")))
    assert stored["success"] is False
    with warehouse.transaction() as cur:  # nothing was staged or published
        for table in ("ml.flight_delay_predictions", "ml.flight_delay_predictions_staging"):
            cur.execute(f"SELECT count(*) FROM {table}")
            assert cur.fetchone()[0] == 0, table

    # The upstream load is fixed and the run retried: the failed attempt stays on record beside it.
    with warehouse.transaction() as cur:
        cur.execute("UPDATE nycflights13.flights SET distance = -distance WHERE time_hour >= %(d)s", {"d": day})
    assert predict.run(Runtime(cfg, ctx))["rows"] > 0
    rows = warehouse.fetch("ml/validation_results_for_run", {"run_id": "manual__bad"})
    assert [r["success"] for r in rows] == [False, True]
    assert rows[0]["artifact_uri"] != rows[1]["artifact_uri"]
    # Both attempts' full results stay in the store, each as it was...
    store = open_store(cfg.artifacts)
    stored = [json.loads(store.get(r["artifact_uri"].removeprefix(str(tmp_path) + "/"))) for r in rows]
    assert [doc["success"] for doc in stored] == [False, True]
    # ...and the published rows lead to the passing attempt's record alone.
    with warehouse.transaction() as cur:
        cur.execute(
            "SELECT DISTINCT v.id FROM ml.flight_delay_predictions AS p JOIN ml.validation_results AS v "
            "ON v.model_name = p.model_name AND v.run_id = p.run_id AND v.data_interval_start = p.data_interval_start "
            "AND v.data_interval_end = p.data_interval_end AND v.success"
        )
        assert [r[0] for r in cur.fetchall()] == [rows[1]["id"]]


def test_a_changed_batch_is_detected(fresh_seeded_url, tmp_path, make_config):
    cfg = make_config(fresh_seeded_url, str(tmp_path))
    rt = Runtime(
        cfg,
        RunContext("retrain", "manual__x", dt.datetime(2013, 3, 4, tzinfo=UTC), dt.datetime(2013, 3, 5, tzinfo=UTC)),
    )
    batch = retrain.extract(rt)
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        retrain.validate(rt, {**batch, "sha256": "0" * 64})


def test_run_context_needs_a_real_interval():
    day = dt.datetime(2013, 3, 4, tzinfo=UTC)
    from dag_toolkit import run_context

    with pytest.raises(ValueError, match="logical date"):
        RunContext("predict", "manual__1", day, day)
    for start, end in ((None, None), (day, day)):  # no interval, or a zero-length one (schedule=None)
        airflow_context = {"run_id": "manual__2", "data_interval_start": start, "data_interval_end": end}
        assert run_context(airflow_context) is None
    with pytest.raises(ValueError, match="no data interval"):
        _ = Runtime(load_config("flight_delay")).ctx


def test_cli_reports_a_bad_config_by_key(monkeypatch, capsys):
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__PROMOTION__METRIC", "accuracy")
    assert main(["summary", "--model", "flight_delay"]) == 2
    err = capsys.readouterr().err
    assert "promotion.metric" in err and "flight_delay.yaml" in err


def test_cli_usage_errors_exit_2_naming_the_option(capsys):
    assert main(["study", "--no-such-option"]) == 2
    assert "--no-such-option" in capsys.readouterr().err
    assert main(["predict", "--model", "flight_delay", "--end", "not-a-date"]) == 2
    assert "--end" in capsys.readouterr().err


def test_cli_predict_without_warehouse_is_a_clear_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PIPELINE_WAREHOUSE__LOCAL_DIR", str(tmp_path / "nowhere"))
    assert main(["predict", "--model", "flight_delay", "--end", "2013-03-05"]) == 1
    assert "make warehouse" in capsys.readouterr().err
