"""The model dashboard in the Airflow UI: an Airflow plugin (``[core] plugins_folder`` is this folder).

- ``fastapi_apps``: pages and JSON under ``/models`` on the API server, behind Airflow's own
  authentication and authorization (the ``requires_access_dag("GET")`` dependency of Airflow's REST
  API: a JWT in the ``Authorization: Bearer`` header or the UI's ``_token`` cookie, and read access
  to the DAGs). A model name in a URL must be a configured model's (404 otherwise), and a version an
  integer, so no URL reaches another path of the artifact store.
- ``external_views``: a "Models" entry in the navigation, a "Model" tab on every DAG (a model's DAG
  opens its model's page) and a "Model card" link on every task instance (a retrain or rollback run's
  opens the card of the version it trained or made champion).

The pages and their data are :mod:`pipeline.visualization.dashboard`'s; this file only routes. The
FastAPI app is built on first use (:func:`create_app`): every Airflow process loads the plugins, a
task's too, and only the API server serves pages.
"""

import html
from functools import cache
from typing import Any

from airflow.plugins_manager import AirflowPlugin

PREFIX = "/models"

LINEAGE = (
    "version",
    "dag_id",
    "run_id",
    "code_version",
    "training_data_uri",
    "training_data_sha256",
    "validation_uri",
    "feature_sql_sha256",
    "expectation_suites",
    "reproduces_version",
    "artifact_uri",
)
"""The registry fields a version's lineage shows (:func:`pipeline.summary.versions`)."""


def _configs() -> tuple[dict[str, Any], dict[str, str]]:
    """The valid models' configs (with the credentials of the configured Airflow Connections) and
    the broken model files' errors, read afresh."""
    from dag_toolkit.connections import connection_overrides

    from pipeline.config import load_config, load_models

    valid, broken = load_models()
    overrides = connection_overrides() if valid else {}
    return {name: load_config(name, **overrides) for name in valid}, {n: str(e) for n, e in broken.items()}


def _overview() -> tuple[list, dict]:
    """Every model's :func:`pipeline.visualization.dashboard.overview`, and the broken files' errors."""
    from pipeline import summary
    from pipeline.visualization import dashboard

    configs, broken = _configs()
    rows = []
    for cfg in configs.values():
        with summary.reading(cfg) as warehouse:
            rows.append(dashboard.overview(cfg, warehouse))
    return rows, broken


@cache
def create_app():
    """The dashboard's FastAPI app, every route behind ``requires_access_dag("GET")``."""
    from typing import Annotated

    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
    from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
    from fastapi import Depends, FastAPI, HTTPException, Request
    from fastapi.responses import HTMLResponse, RedirectResponse

    from pipeline import summary
    from pipeline.visualization import dashboard

    app = FastAPI(
        title="Model dashboard",
        description="The ML pipeline's models: champions, decisions, monitoring, model cards.",
        dependencies=[Depends(requires_access_dag("GET"))],
    )

    def model_config(model: str, user: GetUserDep) -> Any:
        """The config of ``model``, a configured model whose DAGs ``user`` may read; 404 or 403 otherwise."""
        cfg = _configs()[0].get(model)
        if cfg is None:
            raise HTTPException(404, f"no configured model {model!r}")
        details = DagDetails(id=cfg.dag_id("retrain"))
        if not get_auth_manager().is_authorized_dag(method="GET", details=details, user=user):
            raise HTTPException(403, "Forbidden")
        return cfg

    Model = Annotated[Any, Depends(model_config)]

    def base(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    @app.get("/", response_class=HTMLResponse)
    def models(request: Request) -> str:
        """The Models page."""
        return dashboard.models_page(*_overview(), base=base(request))

    @app.get("/api/models")
    def models_json() -> dict:
        """The Models page's data: ``models`` (one overview per model) and ``broken`` (name -> error)."""
        rows, broken = _overview()
        return {"models": rows, "broken": broken}

    @app.get("/api/models/{model}")
    def model_json(cfg: Model) -> dict:
        """One model's page as data (:func:`pipeline.visualization.dashboard.model_data`)."""
        with summary.reading(cfg) as warehouse:
            return dashboard.model_data(cfg, warehouse)

    @app.get("/{model}", response_class=HTMLResponse)
    def model(request: Request, cfg: Model) -> str:
        """One model's page."""
        with summary.reading(cfg) as warehouse:
            return dashboard.model_page(dashboard.model_data(cfg, warehouse), base=base(request))

    @app.get("/{model}/versions/{version}/card", response_class=HTMLResponse)
    def model_card(version: int, cfg: Model) -> HTMLResponse:
        """A version's model card, read from the artifact store (a folder or S3)."""
        from pipeline.data.artifacts import ArtifactError, open_store
        from pipeline.models.registry import MODEL_CARD_FILE, version_prefix

        try:
            page = open_store(cfg.artifacts).get(f"{version_prefix(cfg.model.name, version)}/{MODEL_CARD_FILE}")
        except ArtifactError as exc:
            raise HTTPException(404, f"no model card for {cfg.model.name} v{version}") from exc
        return HTMLResponse(page, headers={"X-Content-Type-Options": "nosniff"})

    @app.get("/{model}/versions/{version}/lineage")
    def lineage(version: int, cfg: Model) -> dict:
        """What a version was made from (:data:`LINEAGE`)."""
        with summary.reading(cfg) as warehouse:
            row = next((v for v in summary.versions(warehouse, cfg.model.name) if v["version"] == version), None)
        if row is None:
            raise HTTPException(404, f"no version {version} of {cfg.model.name}")
        return {k: row[k] for k in LINEAGE}

    def not_a_model(request: Request, dag_id: str) -> HTMLResponse:
        """404: a page saying ``dag_id`` is no model's DAG (``cleanup``), linking to the Models page."""
        page = f'<p>{html.escape(dag_id)} is not a model\'s DAG. <a href="{base(request)}/">Models</a></p>'
        return HTMLResponse(page, status_code=404)

    @app.get("/dag/{dag_id}")
    def dag_tab(request: Request, dag_id: str):
        """A DAG's "Model" tab: its model's page, or a note for a DAG of no model (``cleanup``)."""
        name = dag_id.partition("__")[2]
        if name in _configs()[0]:
            return RedirectResponse(f"{base(request)}/{name}")
        return not_a_model(request, dag_id)

    @app.get("/task/{dag_id}/{run_id}/{task_id}")
    def task_link(request: Request, dag_id: str, run_id: str, task_id: str):
        """A task instance's "Model card" link: the card of the version its run trained or made
        champion (a retrain's or a rollback's), else its model's page."""
        name = dag_id.partition("__")[2]
        cfg = _configs()[0].get(name)
        if cfg is None:
            return not_a_model(request, dag_id)
        with summary.reading(cfg) as warehouse:
            version = summary.version_of_run(warehouse, name, dag_id, run_id)
        page = f"{base(request)}/{name}"
        return RedirectResponse(f"{page}/versions/{version}/card" if version else page)

    return app


class ModelDashboardPlugin(AirflowPlugin):
    """The model dashboard's pages (``fastapi_apps``) and their places in the UI (``external_views``)."""

    name = "model_dashboard"
    external_views = [
        {"name": "Models", "href": f"{PREFIX}/", "url_route": "models", "destination": "nav"},
        {"name": "Model", "href": f"{PREFIX}/dag/{{DAG_ID}}", "url_route": "model", "destination": "dag"},
        {
            "name": "Model card",
            "href": f"{PREFIX}/task/{{DAG_ID}}/{{RUN_ID}}/{{TASK_ID}}",
            "url_route": "model-card",
            "destination": "task_instance",
        },
    ]

    @property
    def fastapi_apps(self) -> list[dict]:
        """The dashboard app under :data:`PREFIX`, built when the API server first asks."""
        return [{"app": create_app(), "url_prefix": PREFIX, "name": "Model dashboard"}]
