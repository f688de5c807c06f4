"""The shared DAG toolkit: what every DAG file of this project uses to build one DAG per model. Listed in
``.airflowignore``: not a DAG folder.

- :mod:`~dag_toolkit.defaults`: the configured models, DAG ids, and the ``@dag`` arguments every DAG
  shares (default args, retry policy, start date, tags).
- :mod:`~dag_toolkit.timetables`: the models' cron timetables, and the period a run covers (over
  :mod:`pipeline.schedule`).
- :mod:`~dag_toolkit.context`: an Airflow task context as the pipeline's run context, and
  :func:`run_stage`, which runs a pipeline stage from a task in one line.
- :mod:`~dag_toolkit.connections`: warehouse and S3 credentials from Airflow Connections, masked in logs.
- :mod:`~dag_toolkit.alerts`: the failure, deadline and monitor-decision alerts.
- :mod:`~dag_toolkit.docs`: each DAG's documentation, filled in for its model.
- :mod:`~dag_toolkit.events`: the extras of the champion and predictions asset events.
- :mod:`~dag_toolkit.forms`: the rollback form's versions, read from the registry at parse time.

Each DAG file builds one DAG per model (``retrain__<model>``, ...) from :func:`models`: the model files
that validate. A broken model file is left out there, and ``model_files.py`` reports it as its import
error, so the other models' DAGs keep running.

Only light imports at module level (``airflow.sdk``, ``pendulum``, the config): DAG files are parsed often.
"""

from dag_toolkit.alerts import notify_decision, predict_deadline
from dag_toolkit.connections import connection_overrides
from dag_toolkit.context import run_context, run_stage
from dag_toolkit.defaults import DEFAULT_ARGS, RETRY_POLICY, dag_args, dag_id, models
from dag_toolkit.docs import dag_doc, forecast_doc
from dag_toolkit.events import champion_event, predictions_event
from dag_toolkit.forms import registry_versions
from dag_toolkit.timetables import schedule_period, timetable

__all__ = [
    "DEFAULT_ARGS",
    "RETRY_POLICY",
    "champion_event",
    "connection_overrides",
    "dag_args",
    "dag_doc",
    "dag_id",
    "forecast_doc",
    "models",
    "notify_decision",
    "predict_deadline",
    "predictions_event",
    "registry_versions",
    "run_context",
    "run_stage",
    "schedule_period",
    "timetable",
]
