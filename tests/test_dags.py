"""DAG integrity: imports cleanly, wiring, schedules from config, cheap top level, bad config."""

from __future__ import annotations

import datetime as dt
import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[1] / "dags"


def load_dag(name: str):
    """Execute dags/<name>.py afresh (so it reads the current environment) and return its DAG."""
    return runpy.run_path(str(DAGS / f"{name}.py"))[f"{name}_dag"]


def core_timetable(dag):
    """The scheduler's view of the DAG's timetable (the SDK object only holds its definition)."""
    from airflow.serialization.encoders import coerce_to_core_timetable

    return coerce_to_core_timetable(dag.timetable)


def test_dagbag_imports_without_errors():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"retrain", "predict", "rollback", "monitor"}


def test_retrain_wiring_and_defaults():
    dag = load_dag("retrain")
    tasks = {t.task_id: t for t in dag.tasks}
    assert tasks["extract_training_batch"].downstream_task_ids == {"validate_training_batch", "train_challenger"}
    assert tasks["validate_training_batch"].downstream_task_ids == {"train_challenger"}
    assert tasks["train_challenger"].downstream_task_ids == {"promote"}
    assert dag.catchup is False
    assert dag.start_date == dt.datetime(2013, 1, 1, tzinfo=dt.UTC)
    assert dag.timetable.timetable.expression == "0 0 * * 0"  # @weekly, or when monitor requests a retrain
    assert [a.name for a in dag.timetable.asset_condition.objects] == ["flight_delay.retrain_request"]
    assert dag.params["force_promote"] is False
    assert dag.params["from_snapshot_version"] is None
    assert dag.params.get_param("window_days").schema["type"] == "integer"


def test_predict_wiring():
    dag = load_dag("predict")
    tasks = {t.task_id: t for t in dag.tasks}
    assert tasks["resolve_models"].downstream_task_ids == {"plan_scoring", "score_partition", "publish"}
    assert tasks["plan_scoring"].downstream_task_ids == {"score_partition", "publish"}
    assert tasks["score_partition"].downstream_task_ids == {"publish"}
    assert tasks["score_partition"].is_mapped
    assert dag.timetable.expression == "0 0 * * *"  # @daily


def test_retraining_interval_comes_from_config(monkeypatch):
    """Changing the retraining interval in config changes the DAG's schedule and its data intervals."""
    monkeypatch.setenv("PIPELINE_SCHEDULE__RETRAIN", "0 6 1 * *")
    dag = load_dag("retrain")
    assert dag.timetable.timetable.expression == "0 6 1 * *"
    interval = core_timetable(dag).infer_manual_data_interval(run_after=dt.datetime(2013, 3, 15, tzinfo=dt.UTC))
    assert (interval.start, interval.end) == (
        dt.datetime(2013, 2, 1, 6, tzinfo=dt.UTC),
        dt.datetime(2013, 3, 1, 6, tzinfo=dt.UTC),
    )


def test_daily_schedule_has_a_real_data_interval():
    """A cron preset through CronDataIntervalTimetable gives a one-day window, not a zero-length one."""
    dag = load_dag("predict")
    interval = core_timetable(dag).infer_manual_data_interval(run_after=dt.datetime(2013, 1, 5, tzinfo=dt.UTC))
    assert (interval.start, interval.end) == (
        dt.datetime(2013, 1, 4, tzinfo=dt.UTC),
        dt.datetime(2013, 1, 5, tzinfo=dt.UTC),
    )


def test_invalid_config_is_an_import_error_naming_the_key(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("PIPELINE_TRAINING__HOLDOUT_DAYS", "-3")
    bag = DagBag(dag_folder=str(DAGS))
    assert len(bag.import_errors) == 4
    for error in bag.import_errors.values():
        assert "training.holdout_days" in error


def test_dag_files_do_no_heavy_work_at_import():
    """Parsing a DAG file imports neither pandas, scikit-learn, Great Expectations nor boto3, and does
    not load the pipeline's warehouse or artifact I/O."""
    heavy = ("pandas", "sklearn", "great_expectations", "boto3", "pipeline.data.warehouse", "pipeline.stages")
    probe = (
        f"import json, runpy, sys; sys.path.insert(0, {str(DAGS)!r})\n"
        f"[runpy.run_path(str(p)) for p in {sorted(str(p) for p in DAGS.glob('*.py'))!r}]\n"
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_rollback_takes_typed_params():
    dag = load_dag("rollback")
    assert core_timetable(dag).summary == "None"  # manual only
    assert dag.params.get_param("version").schema == {"type": "integer", "minimum": 1}
    assert dag.params.get_param("model_name").schema["type"] == "string"
    assert [t.task_id for t in dag.tasks] == ["rollback"] and dag.tasks[0].retries == 0


@pytest.mark.parametrize("name", ["retrain", "predict", "monitor", "rollback"])
def test_permanent_errors_are_not_retried(name):
    from pipeline.errors import PermanentError

    dag = load_dag(name)
    for task in dag.tasks:
        decision = task.retry_policy.evaluate(PermanentError("bad batch"), try_number=1, max_tries=3)
        assert decision.action.value == "fail"
        assert task.retries == (0 if name == "rollback" else 2)
