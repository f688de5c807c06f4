"""The configured models, their DAG ids, and the ``@dag`` arguments every DAG of the project shares."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

from dag_toolkit.alerts import PipelineNotifier
from pipeline.config import PipelineConfig, load_models

# Errors that retrying cannot fix fail at once: every pipeline.errors.PermanentError (bad config or
# run param, a failed expectation suite, no champion, a statement the warehouse refuses as such: an
# undefined column or table, a syntax error), and any pydantic ValidationError a library let through
# (invalid input is invalid on every try). Anything else (a dropped connection, S3 throttling) is retried.
RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=["pipeline.errors.PermanentError", "pydantic.ValidationError"],
            action=RetryAction.FAIL,
            reason="retrying cannot fix it",
        )
    ]
)

DEFAULT_ARGS = {
    "retries": 2,
    "retry_delay": dt.timedelta(minutes=2),
    "retry_policy": RETRY_POLICY,
    "on_failure_callback": PipelineNotifier("task_failed"),
}


def models() -> dict[str, PipelineConfig]:
    """Every model whose file validates: name -> config, sorted by name. Broken files are left out
    (``model_files.py`` reports them). A bad shared file raises ``ConfigError``: every DAG file's
    import error, since no model can run without the warehouse and artifact settings."""
    return load_models()[0]


def dag_id(kind: str, cfg: PipelineConfig) -> str:
    """``<kind>__<model>``, for example ``retrain__flight_delay``."""
    return cfg.dag_id(kind)


def dag_args(cfg: PipelineConfig | None, doc: str | None) -> dict[str, Any]:
    """The ``@dag`` arguments every DAG of the project shares: default args (retries and the retry
    policy), the doc as the UI's documentation, and, for a model's DAG, its start date, catchup and
    tags (``ml``, the model's name and task)."""
    args = {
        "default_args": DEFAULT_ARGS,
        "doc_md": doc,
        "tags": ["ml"],
        "catchup": False,
        # Unpausing starts a run for the current interval: a deployment turns each DAG on deliberately.
        "is_paused_upon_creation": True,
    }
    if cfg is not None:
        args |= {
            "start_date": pendulum.datetime(*cfg.schedule.start_date.timetuple()[:3], tz=cfg.schedule.timezone),
            "catchup": cfg.schedule.catchup,
            "tags": ["ml", cfg.model.name, cfg.task],
        }
    return args
