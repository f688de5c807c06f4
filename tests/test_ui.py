"""The UI tells the truth: the retrain schedule and the rollback form as Airflow's REST API serves
them, every DAG's doc, and the model card named in the task logs.

A real registry (two trained versions of the flight-delay model in a warehouse of their own) feeds
the rollback form; the DAGs are serialized into the test Airflow metadata database by
``airflow dags reserialize``, as the DAG processor does, and read back through an in-process client
of Airflow's own API app.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import runpy
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT, load_config

DAGS = PROJECT_ROOT / "dags"
MODELS = sorted(p.stem for p in (PROJECT_ROOT / "config" / "models").glob("*.yaml"))
UTC = dt.UTC


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def registry(pg_port, seeded_template, tmp_path_factory):
    """A warehouse of this module's own whose flight-delay registry holds v1 (archived) and v2
    (champion, forced), trained for real with a small model; and the model-card log lines."""
    from conftest import _clone, _drop_database

    from pipeline.data import local_pg
    from pipeline.stages import RunContext, Runtime, retrain

    url = local_pg.url(pg_port, _clone(pg_port, seeded_template, "ui"))
    root = tmp_path_factory.mktemp("artifacts")
    cfg = load_config(
        "flight_delay",
        warehouse={"url": url},
        artifacts={"root": str(root)},
        model={"params": {"max_iter": 20}},
        training={"window_days": 14},
    )
    collect = Collect()
    logger = logging.getLogger("pipeline.stages")
    level = logger.level
    logger.addHandler(collect)
    logger.setLevel(logging.INFO)
    try:
        for version, day in ((1, dt.datetime(2013, 3, 4, tzinfo=UTC)), (2, dt.datetime(2013, 3, 11, tzinfo=UTC))):
            ctx = RunContext("retrain__flight_delay", f"manual__v{version}", day - dt.timedelta(days=7), day)
            assert retrain.run(Runtime(cfg, ctx), force=True)["version"] == version
    finally:
        logger.removeHandler(collect)
        logger.setLevel(level)
    yield {"url": url, "root": root, "cfg": cfg, "logs": collect.messages}
    _drop_database(pg_port, url.rsplit("/", 1)[1])


@pytest.fixture
def env(registry, monkeypatch):
    """The DAGs' environment: the registry's warehouse and artifact root."""
    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", registry["url"])
    monkeypatch.setenv("PIPELINE_ARTIFACTS__ROOT", str(registry["root"]))
    return registry


def load_dag(kind: str, model: str = "flight_delay"):
    return runpy.run_path(str(DAGS / f"{kind}.py"))[f"{kind}__{model}"]


def test_train_and_promote_log_the_model_card(registry):
    cards = [m.removeprefix("model card: ") for m in registry["logs"] if m.startswith("model card: ")]
    expected = [f"{registry['root']}/flight_delay/{v}/model_card.html" for v in (1, 1, 2, 2)]  # train, promote
    assert cards == expected
    page = Path(cards[-1]).read_text()
    assert page.lstrip().lower().startswith("<!doctype html") and "flight_delay v2" in page


def test_rollback_form_offers_only_valid_versions_with_status_and_metric(env):
    from airflow.sdk.exceptions import ParamValidationError

    dag = load_dag("rollback")
    version = dag.params.get_param("version")
    # v1, and the champion v2: a cleared or retried rollback run whose version is now champion validates.
    assert version.schema["type"] == "integer" and version.schema["enum"] == [2, 1]
    assert version.schema["values_display"]["2"].endswith("(a run changes nothing)")
    display = version.schema["values_display"]["1"]
    roc_auc = _row(env["url"], 1)["metrics"]["roc_auc"]
    assert display.startswith("v1: archived, holdout roc_auc ") and f"{roc_auc:.4f}" in display
    assert "Champion now: v2: champion" in version.description
    assert "- v1: archived" in dag.doc_md and "ml.flight_delay_predictions" in dag.doc_md
    # A number outside the enum (a missing or a zero version) is refused before any run.
    for bad in (0, 3, "1"):
        with pytest.raises(ParamValidationError):
            _validate(dag, bad)
    assert _validate(dag, 1)["version"] == 1
    with pytest.raises(ParamValidationError):  # no default: the form asks for a pick
        copy.deepcopy(dag.params).validate()


def _validate(dag, version):
    params = copy.deepcopy(dag.params)
    params["version"] = version
    return params.validate()


def _row(url: str, version: int) -> dict:
    from pipeline.data.warehouse import Warehouse

    return Warehouse(url).fetch("ml/registry_get", {"model_name": "flight_delay", "version": version})[0]


def test_rollback_form_without_a_registry_is_a_free_integer_saying_why(monkeypatch, pg_port):
    with socket_closed() as port:
        monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", f"postgresql://postgres@127.0.0.1:{port}/nowhere")
        dag = load_dag("rollback")
    version = dag.params.get_param("version")
    assert version.schema == {"type": "integer", "minimum": 1}
    assert version.description.startswith("The registry could not be read when this DAG was parsed: cannot connect")
    # A reachable server without the registry schema says so too.
    from pipeline.data import local_pg

    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", local_pg.url(pg_port, "postgres"))
    assert "cannot read the registry" in load_dag("rollback").params.get_param("version").description


class socket_closed:
    """A TCP port on 127.0.0.1 that nothing listens on."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def __exit__(self, *exc) -> None:
        return None


@pytest.mark.parametrize("model", MODELS)
def test_every_dag_doc_names_its_model_schedule_and_predictions_table(model):
    cfg = load_config(model)
    for kind, cron in (
        ("retrain", cfg.schedule.retrain),
        ("predict", cfg.schedule.predict),
        ("monitor", cfg.monitoring.schedule),
        ("rollback", cfg.schedule.predict),
    ):
        doc = load_dag(kind, model).doc_md
        for fact in (f"`{model}`", f"`{cron}`", cfg.schedule.timezone, f"`{cfg.predictions.table}`"):
            assert fact in doc, (kind, fact)


@pytest.fixture(scope="module")
def api(registry, airflow_db):
    """An in-process client of Airflow's API app, over the DAGs as ``airflow dags reserialize``
    stores them in the metadata database (with this module's registry), as an admin."""
    import os

    from airflow.api_fastapi.app import create_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PIPELINE_WAREHOUSE__URL", registry["url"])
        mp.setenv("PIPELINE_ARTIFACTS__ROOT", str(registry["root"]))
        mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")  # no generated passwords
        airflow = Path(sys.executable).with_name("airflow")
        env = os.environ | {"PYTHONPATH": str(PROJECT_ROOT)}  # this checkout's pipeline package
        proc = subprocess.run([str(airflow), "dags", "reserialize"], capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        app = create_app(apps="core")
        app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username="test", role="admin")
        with TestClient(app) as client:
            errors = client.get("/api/v2/importErrors").json()
            assert errors["total_entries"] == 0, errors
            yield client


def test_the_api_shows_the_retrain_cron_and_its_asset(api, registry):
    """The description names what the UI's Schedule column (the asset only) leaves out: the cron as
    the scheduler runs it (a preset such as ``@weekly`` expanded), and the time zone."""
    cfg = registry["cfg"]
    cron = load_dag("retrain").timetable.timetable.expression
    assert cron != cfg.schedule.retrain == "@weekly"
    for path in ("", "/details"):
        dag = api.get(f"/api/v2/dags/retrain__flight_delay{path}").json()
        assert dag["description"] == (
            f"Retrains flight_delay on cron `{cron}` ({cfg.schedule.timezone}), "
            "or when monitor__flight_delay updates the asset flight_delay.retrain_request."
        )
        assert dag["timetable_summary"] == f"Asset or {cron}"
        assert dag["timetable_description"].startswith("Triggered by assets or At 00:00")
    assert "flight_delay.retrain_request" in str(dag["asset_expression"])  # /details only
    # The DAG's time zone is the model's. (The Details tab's "Timezone" shows [core] default_timezone for
    # every DAG in Airflow 3.3: apache/airflow#49720, DagModel.timezone.)
    assert load_dag("retrain").timezone.name == cfg.schedule.timezone


def test_a_refused_rollback_leaves_the_date_free_for_a_retry(api):
    runs = "/api/v2/dags/rollback__flight_delay/dagRuns"
    before = api.get(runs).json()["total_entries"]  # the session's other tests' runs (dag.test) stay
    # The form refuses a version outside the enum: 400, and no run is created.
    bad = api.post(runs, json={"logical_date": None, "conf": {"version": 0}})
    assert bad.status_code == 400 and "version" in bad.text, bad.text
    assert api.get(runs).json()["total_entries"] == before
    # Without a logical date, a rollback can be triggered again (a retry) as often as needed.
    first = api.post(runs, json={"logical_date": None, "conf": {"version": 1, "note": uuid.uuid4().hex}})
    again = api.post(runs, json={"logical_date": None, "conf": {"version": 1}})
    assert (first.status_code, again.status_code) == (200, 200), again.text
    assert first.json()["logical_date"] is None and first.json()["dag_run_id"] != again.json()["dag_run_id"]
    # The reason the doc says to leave it empty: one run per logical date (dag_run_dag_id_logical_date_key).
    at = "2013-03-21T00:00:00Z"
    assert api.post(runs, json={"logical_date": at, "conf": {"version": 1}}).status_code == 200
    assert api.post(runs, json={"logical_date": at, "conf": {"version": 1}}).status_code == 409
