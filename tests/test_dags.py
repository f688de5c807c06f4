"""DAG integrity: imports cleanly, one DAG of each kind per model file, wiring, schedules from each
model's config, cheap top level, and a bad model file that breaks only its own model's DAGs."""

from __future__ import annotations

import datetime as dt
import json
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from dag_toolkit import schedule_period

from pipeline.config import DEFAULT_CONFIG, PROJECT_ROOT

DAGS = PROJECT_ROOT / "dags"
MODELS = sorted(p.stem for p in (PROJECT_ROOT / "config" / "models").glob("*.yaml"))
KINDS = ("retrain", "predict", "monitor", "rollback")


def load_dag(kind: str, model: str = "flight_delay"):
    """Execute dags/<kind>.py afresh (so it reads the current environment) and return the model's DAG."""
    return runpy.run_path(str(DAGS / f"{kind}.py"))[f"{kind}__{model}"]


def core_timetable(dag):
    """The scheduler's view of the DAG's timetable (the SDK object only holds its definition)."""
    from airflow.serialization.encoders import coerce_to_core_timetable

    return coerce_to_core_timetable(dag.timetable)


def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dagbag_has_four_dags_per_model():
    bag = dagbag()
    assert bag.import_errors == {}
    assert len(MODELS) >= 2
    assert set(bag.dag_ids) == {f"{kind}__{m}" for kind in KINDS for m in MODELS} | {"cleanup"}
    for model in MODELS:
        for kind in KINDS:
            dag = bag.dags[f"{kind}__{model}"]
            assert model in dag.tags  # each model's DAGs carry its own tag
            assert model in dag.doc_md and "{" not in dag.doc_md  # the doc names the model, fully rendered
    # Unpausing starts a run for the current interval: every DAG waits to be turned on deliberately.
    assert all(dag.is_paused_upon_creation for dag in bag.dags.values())


# What docs/deploying.md asks of an Airflow deployment's environment, and nothing else (no PYTHONPATH).
DOCUMENTED_ENV = (
    "PATH",
    "HOME",
    "AIRFLOW_HOME",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__CORE__PLUGINS_FOLDER",
    "AIRFLOW__CORE__LOAD_EXAMPLES",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
)


def test_airflow_lists_no_import_errors_with_only_the_documented_environment(airflow_db, tmp_path):
    """`airflow dags list-import-errors -l` parses the DAG folder in its own process, which, like the
    triggerer, does not put the folder on sys.path (Airflow 3.3's plain DagBag; only the bundle-aware
    one does): the DAG files must import their toolkit as part of the installed project."""
    import os

    env = {name: os.environ[name] for name in DOCUMENTED_ENV if name in os.environ}
    airflow = Path(sys.executable).with_name("airflow")
    command = [str(airflow), "dags", "list-import-errors", "-l", "-o", "json"]
    proc = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_each_model_has_its_own_assets():
    requests = {m: load_dag("retrain", m).timetable.asset_condition.objects[0].name for m in MODELS}
    published = {m: load_dag("predict", m).get_task("publish").outlets[0].name for m in MODELS}
    assert requests == {m: f"{m}.retrain_request" for m in MODELS}
    assert published == {m: f"{m}.predictions" for m in MODELS}
    monitor = {m: load_dag("monitor", m).get_task("request_retrain").outlets[0].name for m in MODELS}
    assert monitor == requests


def test_retrain_wiring_and_defaults():
    dag = load_dag("retrain")
    tasks = {t.task_id: t for t in dag.tasks}
    assert tasks["extract_training_batch"].downstream_task_ids == {"validate_training_batch", "train_challenger"}
    assert tasks["validate_training_batch"].downstream_task_ids == {"train_challenger"}
    assert tasks["train_challenger"].downstream_task_ids == {"promote"}
    assert dag.catchup is False
    assert dag.start_date == dt.datetime(2013, 1, 1, tzinfo=ZoneInfo("America/New_York"))
    assert dag.timetable.timetable.expression == "0 0 * * 0"  # @weekly, or when monitor requests a retrain
    # Sunday midnight in New York, in winter and in summer time
    for sunday, hour in ((dt.datetime(2013, 3, 3, tzinfo=dt.UTC), 5), (dt.datetime(2013, 3, 17, tzinfo=dt.UTC), 4)):
        period = schedule_period(dag.timetable, sunday + dt.timedelta(hours=hour))
        assert period == (sunday - dt.timedelta(days=7) + dt.timedelta(hours=5), sunday + dt.timedelta(hours=hour))
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
    assert dag.timetable.expression == "0 * * * *"  # @hourly


def test_retraining_interval_comes_from_the_models_config(monkeypatch):
    """Changing one model's retraining interval changes its DAG's schedule and data intervals only."""
    other = next(m for m in MODELS if m != "flight_delay")
    before = load_dag("retrain", other).timetable.timetable.expression
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__SCHEDULE__RETRAIN", "0 6 1 * *")
    dag = load_dag("retrain")
    assert dag.timetable.timetable.expression == "0 6 1 * *"
    assert load_dag("retrain", other).timetable.timetable.expression == before
    assert schedule_period(dag.timetable, dt.datetime(2013, 3, 15, tzinfo=dt.UTC)) == (
        dt.datetime(2013, 2, 1, 11, tzinfo=dt.UTC),  # 06:00 in New York, the models' time zone
        dt.datetime(2013, 3, 1, 11, tzinfo=dt.UTC),
    )


def test_hourly_schedule_has_a_real_data_interval():
    """A run of the @hourly schedule covers the hour that ends at its logical date, not a zero-length
    window, also across the DST changes of its time zone (America/New_York)."""
    dag = load_dag("predict")
    hour = dt.timedelta(hours=1)
    for tick in (
        dt.datetime(2013, 1, 5, 5, tzinfo=dt.UTC),
        dt.datetime(2013, 3, 10, 7, tzinfo=dt.UTC),  # 03:00 EDT, the hour after 02:00 EST was skipped
        dt.datetime(2013, 11, 3, 6, tzinfo=dt.UTC),  # 01:00 EST, the second 01:00 of the night
    ):
        assert schedule_period(dag.timetable, tick) == (tick - hour, tick)


def test_a_bad_model_file_breaks_only_its_own_dags(monkeypatch, tmp_path: Path):
    """One model file with a bad schedule: its DAGs are gone, an import error names its file and key,
    and every other model's DAGs still load."""
    models_dir = tmp_path / "models"
    shutil.copytree(PROJECT_ROOT / "config" / "models", models_dir)
    broken = models_dir / "flight_delay.yaml"
    data = yaml.safe_load(broken.read_text())
    data["schedule"]["retrain"] = "every tuesday"
    broken.write_text(yaml.safe_dump(data))
    shared = tmp_path / "pipeline.yaml"
    shared.write_text(yaml.safe_dump(yaml.safe_load(DEFAULT_CONFIG.read_text()) | {"models_dir": str(models_dir)}))
    monkeypatch.setenv("PIPELINE_CONFIG", str(shared))

    bag = dagbag()

    healthy = [m for m in MODELS if m != "flight_delay"]
    assert set(bag.dag_ids) == {f"{kind}__{m}" for kind in KINDS for m in healthy} | {"cleanup"}
    assert list(bag.import_errors) == [str(DAGS / "model_files.py")]
    error = next(iter(bag.import_errors.values()))
    assert str(broken) in error and "schedule.retrain" in error


def test_a_bad_shared_file_is_an_import_error_naming_the_key(monkeypatch):
    monkeypatch.setenv("PIPELINE_WAREHOUSE__LOCAL_PORT", "80")
    bag = dagbag()
    assert bag.dag_ids == []
    assert len(bag.import_errors) == 6  # every DAG file, and model_files.py
    for error in bag.import_errors.values():
        assert "warehouse.local_port" in error


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


@pytest.mark.parametrize("model", MODELS)
def test_one_manual_rollback_dag_per_model(model):
    """The version form itself (an enum read from the registry) is tested in test_ui.py."""
    dag = load_dag("rollback", model)
    assert core_timetable(dag).summary == "None"  # manual only
    assert set(dag.params) == {"version", "valid_from", "note"}
    assert dag.params["valid_from"] is None  # live from when it is triggered
    assert [t.task_id for t in dag.tasks] == ["rollback"] and dag.tasks[0].retries == 0


@pytest.mark.parametrize("kind", KINDS)
def test_permanent_errors_are_not_retried(kind):
    from pipeline.errors import PermanentError

    for model in MODELS:
        dag = load_dag(kind, model)
        for task in dag.tasks:
            decision = task.retry_policy.evaluate(PermanentError("bad batch"), try_number=1, max_tries=3)
            assert decision.action.value == "fail"
            assert task.retries == (0 if kind == "rollback" else 2)


def test_predict_doc_states_the_lead_the_horizon_and_the_scored_window(monkeypatch):
    doc = load_dag("predict").doc_md
    assert "Lead `1h`, horizon `1h`" in doc
    assert "scores the flights whose `scheduled_departure` lies in [T+1h, T+2h)" in doc
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__PREDICTIONS__LEAD", "PT30M")
    assert "lies in [T+30min, T+90min)" in load_dag("predict").doc_md  # the doc follows the config
