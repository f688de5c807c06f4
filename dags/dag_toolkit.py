"""The shared DAG toolkit: the configured models, defaults, retry policy, start date, timetables and
tags for every DAG of this project, the translation of an Airflow task context into the pipeline's run
context, and the one-line helper that runs a pipeline stage from a task. Listed in ``.airflowignore``:
not a DAG file.

Each DAG file builds one DAG per model (``retrain__<model>``, ...) from :func:`models`: the model files
that validate. A broken model file is left out there, and ``model_files.py`` reports it as its import
error, so the other models' DAGs keep running.

Only light imports at module level (``airflow.sdk``, ``pendulum``, the config model): DAG files are
parsed often.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import pendulum
from airflow.sdk import (
    AsyncCallback,
    BaseNotifier,
    CronTriggerTimetable,
    DeadlineAlert,
    DeadlineReference,
    ExceptionRetryPolicy,
    RetryAction,
    RetryRule,
    get_current_context,
)

from pipeline.config import PipelineConfig, load_config, load_models, load_shared

log = logging.getLogger(__name__)

T = TypeVar("T")

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


class PipelineNotifier(BaseNotifier):
    """One alert, sent to the targets of the shared config's ``alerts`` section: a JSON POST to the
    HTTP connection ``alerts.webhook_conn_id`` (the http provider's ``HttpNotifier``) and a mail to
    ``alerts.smtp_to`` (the smtp provider's ``SmtpNotifier``); with neither set it is only logged.
    The targets are read when the alert is sent, so a config change needs no DAG reparse.

    Used as every task's failure callback (``event="task_failed"``: after the last retry), as the
    predict DAG's deadline callback (``"deadline_missed"``, run by the triggerer, so the triggerer
    needs the dags folder on its ``PYTHONPATH``) and for monitor's decisions (``"monitor_decision"``).
    The message is :func:`alert_message`. A target that fails raises (Airflow logs a failed callback).
    """

    def __init__(self, event: str = "task_failed", detail: str | None = None, context: Any = None) -> None:
        super().__init__(context)
        self.event = event
        self.detail = detail

    def notify(self, context: Mapping[str, Any]) -> None:
        """Build the message of ``context`` and send it to every configured target."""
        send_alert(alert_message(self.event, context, self.detail), context)

    async def async_notify(self, context: Mapping[str, Any]) -> None:
        """:meth:`notify` in a thread (the provider hooks are synchronous): for the triggerer."""
        import asyncio

        await asyncio.to_thread(self.notify, context)


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


def timetable(cfg: PipelineConfig, cron: str) -> CronTriggerTimetable:
    """A cron schedule in the configured time zone whose runs all have their tick as logical date.

    Airflow keys runs by logical date: a backfill skips (or clears) a date that already has a run.
    A scheduled or backfill run of an interval timetable has the interval's *start* as logical date,
    but a manual run (trigger form, REST API, ``dag.test``) covers the period *before* the date
    picked, so the two disagree by one period and a backfill leaves a gap. With a trigger timetable
    (no ``interval``) the logical date is the tick for every kind of run, and :func:`run_context`
    maps it to the one schedule period that ends there (:func:`schedule_period`).
    """
    return CronTriggerTimetable(cron, timezone=cfg.schedule.timezone)


def schedule_period(schedule: Any, logical_date: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """``[start, end)`` of the last complete period of ``schedule`` (a DAG's cron timetable, or the
    asset-or-time schedule around one) before ``logical_date``: ``[previous tick, logical_date)``
    when the date is a tick. None for a schedule without a cron (the manual-only rollback DAG).

    It is Airflow's own rule, computed by its ``CronDataIntervalTimetable`` for a manual run: whole
    cron periods in the schedule's time zone, so a daily period is 23 or 25 hours long across a DST
    change (a fixed ``timedelta`` would overlap or leave out an hour there).
    """
    from airflow.timetables.interval import CronDataIntervalTimetable

    cron = getattr(schedule, "timetable", schedule)
    if not hasattr(cron, "expression"):
        return None
    interval = CronDataIntervalTimetable(cron.expression, cron.timezone).infer_manual_data_interval(
        run_after=pendulum.instance(logical_date)
    )
    return interval.start, interval.end


def dag_doc(template: str, cfg: PipelineConfig, intervals: bool = True, **extra: Any) -> str:
    """A DAG file's docstring, ``template``, filled in for one model: ``{model}``, ``{task}``,
    ``{timezone}``, ``{table}`` (its predictions table), ``{source}`` (its file), and ``extra``;
    followed, for a scheduled DAG (``intervals``), by which interval a run covers and what a run
    without data does, and by which dates have data (``dataset.coverage``)."""
    doc = template.format(
        model=cfg.model.name,
        task=cfg.task,
        timezone=cfg.schedule.timezone,
        table=cfg.predictions.table,
        source=cfg.source,
        **extra,
    )
    if intervals:
        verdict = "skipped" if cfg.schedule.on_empty == "skip" else "failed"
        doc += (
            "\n**Intervals.** A run with logical date D, scheduled, backfilled or triggered by hand, covers the "
            f"schedule period that ends at D: [previous tick, D) in {cfg.schedule.timezone}. Trigger by hand with "
            "the tick that ends the period you want; the trigger form's data interval fields, when set, choose "
            f"another interval. A run whose interval has no data is {verdict} with a message saying so "
            "(`schedule.on_empty`).\n"
        )
    if cfg.dataset.coverage:
        doc += f"\n**Data.** {cfg.dataset.coverage}\n"
    return doc


def _span(delta: dt.timedelta) -> str:
    """A timedelta in the largest whole unit (``1h``, ``90min``, ``1d``, ``0``), for docs."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return "0"


def forecast_doc(cfg: PipelineConfig) -> str:
    """The predict DAG's paragraph on what a run scores: the lead, the horizon and the scored window
    of a run cut off at T (:class:`pipeline.config.CutoffRule`)."""
    rule, ds = cfg.cutoff_rule, cfg.dataset
    lead, far = _span(rule.lead), _span(rule.lead + rule.horizon)
    return (
        f"\n**Forecast.** Lead `{_span(rule.lead)}`, horizon `{_span(rule.horizon)}` (`predictions.lead`, "
        f"`predictions.horizon`). A run cut off at T, the end of its data interval, scores the {ds.name} whose "
        f"`{ds.timestamp}` lies in [T+{lead}, T+{far}), with features computed from data known before T "
        "(each row's `as_of` is T). Its rows record `as_of`, `window_start` and `window_end` next to the "
        "data interval.\n"
    )


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


def run_context(context: dict[str, Any]):
    """The pipeline's :class:`~pipeline.stages.RunContext` of an Airflow task context, or None for
    a run without a data interval.

    - A run with a logical date (scheduled, backfill or manual, whose data interval Airflow records
      as the instant ``[logical date, logical date]``) covers the schedule period that ends at its
      logical date, :func:`schedule_period`: the same period for every kind of run of that date.
    - A manual run given a data interval in the trigger form (start before end) covers it.
    - An asset-triggered run (monitor asked for a retrain) has neither: it runs as of the logical
      time its request carries (``as_of``), over the day before it.
    """
    from pipeline.stages import RunContext

    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    logical_date = context.get("logical_date")
    if (start is None or end is None or start >= end) and logical_date is not None:
        start, end = schedule_period(context["dag"].timetable, logical_date) or (start, end)
    if start is None or end is None or start >= end:
        requested = [
            dt.datetime.fromisoformat(event.extra["as_of"])
            for events in (context.get("triggering_asset_events") or {}).values()
            for event in events
            if "as_of" in (event.extra or {})
        ]
        if not requested:
            return None
        end = max(requested)
        start = end - dt.timedelta(days=1)
    dag_version = getattr(context.get("ti"), "dag_version_id", None)
    return RunContext(
        context["dag"].dag_id, context["run_id"], start, end, None if dag_version is None else str(dag_version)
    )


def run_stage(model: str, stage: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a pipeline stage for ``model`` inside the current task:
    ``stage(Runtime(config, run context), *args)``, with the model's config read afresh and the
    credentials of the configured Airflow Connections (:func:`connection_overrides`). The run's
    ``window_days`` param, where the DAG has one, overrides ``training.window_days``.

    An interval without source data (:class:`~pipeline.errors.EmptyIntervalError`) skips the task,
    and so the tasks after it, with the stage's message (``schedule.on_empty: skip``), or fails it
    without retries (``fail``)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from pipeline.config import with_window_days
    from pipeline.errors import EmptyIntervalError
    from pipeline.stages import Runtime

    context = get_current_context()
    cfg = with_window_days(load_config(model, **connection_overrides()), context["params"].get("window_days"))
    try:
        return stage(Runtime(cfg, run_context(context)), *args, **kwargs)
    except EmptyIntervalError as exc:
        if exc.skip:
            raise AirflowSkipException(str(exc)) from exc
        raise


def connection_overrides() -> dict[str, dict[str, Any]]:
    """``warehouse`` and ``artifacts`` settings from the Airflow Connections named in the shared
    config's ``airflow`` section, as :func:`~pipeline.config.load_config` overrides; ``{}`` with none.

    - ``airflow.warehouse_conn_id``: a Postgres connection, read by the postgres provider's
      ``PostgresHook.sqlalchemy_url`` (login, password, host, port, schema as the database, extra
      ``sqlalchemy_query``), becomes ``warehouse.url``.
    - ``airflow.aws_conn_id``: an AWS connection, read by the amazon provider's ``AwsBaseHook``
      (login and password or extra keys, a role to assume, extra ``region_name`` and
      ``endpoint_url``), fills ``artifacts``' credentials, region and endpoint.

    The values go to the library only: never to a return value (XCom). The task logs mask them: each
    secret (and the whole URL) is registered with Airflow's log masker, whatever the connection's
    extra field names (botocore's DEBUG lines carry the session token, for one).

    Raises:
        AirflowNotFoundException: a named connection does not exist.
    """
    from airflow.sdk.log import mask_secret

    conns = load_shared().airflow
    overrides: dict[str, dict[str, Any]] = {}
    if conns.warehouse_conn_id:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        # The library picks its own drivers: a plain postgresql:// URL.
        url = PostgresHook(postgres_conn_id=conns.warehouse_conn_id, sqlalchemy_scheme="postgresql").sqlalchemy_url
        overrides["warehouse"] = {"url": url.render_as_string(hide_password=False)}
        for secret in (url.password, overrides["warehouse"]["url"]):
            mask_secret(secret)
    if conns.aws_conn_id:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        hook = AwsBaseHook(aws_conn_id=conns.aws_conn_id, client_type="s3")
        credentials = hook.get_credentials()
        settings = {
            "access_key_id": credentials.access_key,
            "secret_access_key": credentials.secret_key,
            "session_token": credentials.token,
            "region_name": hook.conn_region_name,
            "endpoint_url": hook.conn_config.get_service_endpoint_url("s3"),
        }
        overrides["artifacts"] = {key: value for key, value in settings.items() if value}
        for secret in (credentials.secret_key, credentials.token):
            mask_secret(secret)
    return overrides


def predict_deadline() -> DeadlineAlert | None:
    """The predict DAG's deadline: alert (:class:`PipelineNotifier`, ``deadline_missed``) when a run
    has not finished, so its interval's predictions are not published, ``alerts.deadline_minutes``
    after it was queued. A scheduled run is queued when its data interval ends, so this is "not
    published within N minutes of the interval's end"; a backfill or manual run counts from when it
    was queued, so backfilling 2013 does not raise a stale alert per run. None when switched off."""
    minutes = load_shared().alerts.deadline_minutes
    if minutes is None:
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=dt.timedelta(minutes=minutes),
        callback=AsyncCallback(
            PipelineNotifier,
            kwargs={"event": "deadline_missed", "detail": f"predictions not published within {minutes} min"},
        ),
        name="predictions published",
    )


def notify_decision(decision: Mapping[str, Any]) -> None:
    """Alert monitor's decision from inside its task when ``alerts.monitor_decisions`` is on and the
    decision asked for a retrain or a cooldown suppressed one. A failed alert is logged, not raised:
    the decision is stored and the retrain request must still go out."""
    if not load_shared().alerts.monitor_decisions or not (decision["retrain"] or decision["suppressed"]):
        return
    try:
        PipelineNotifier("monitor_decision", decision["verdict"]).notify(get_current_context())
    except Exception:
        log.exception("monitor decision alert not sent")


def alert_message(event: str, context: Mapping[str, Any], detail: str | None = None) -> dict[str, Any]:
    """The JSON alert of ``event`` in an Airflow callback ``context``: a task's (``dag``, ``run_id``,
    ``ti``, ``data_interval_*``, ``exception``) or a deadline's (``dag_run``: the REST API's DAG run
    as JSON, ``deadline``).

    Returns:
        ``event``, ``dag_id``, ``run_id``, ``task_id`` (None for a run), ``data_interval_start`` and
        ``_end`` (the period the run covers, as ISO strings, or None), ``detail`` (the error, the
        decision, the missed deadline; known secrets redacted), ``url`` (the task's or the run's page
        in the UI), ``title`` and ``text`` (all of it as lines: what a Slack-style incoming webhook
        shows).
    """
    from airflow.sdk import conf
    from airflow.sdk._shared.secrets_masker import redact

    ti = context.get("ti")
    if "dag_run" in context and ti is None:  # a deadline callback: the run as the REST API shows it
        run = context["dag_run"]
        dag_id, run_id, task_id = run["dag_id"], run["dag_run_id"], None
        start, end = run.get("data_interval_start"), run.get("data_interval_end")
        if start == end and run.get("logical_date"):  # a cron run: the schedule period ending at its date
            kind, model = dag_id.split("__", 1)
            cfg = load_config(model)
            start, end = schedule_period(
                timetable(cfg, getattr(cfg.schedule, kind)), dt.datetime.fromisoformat(run["logical_date"])
            )
        base = conf.get("api", "base_url", fallback="http://localhost:8080/").rstrip("/")
        url = f"{base}/dags/{dag_id}/runs/{run_id}"
    else:
        dag_id, run_id, task_id = ti.dag_id, ti.run_id, ti.task_id
        covered = run_context(dict(context))
        start, end = (covered.start, covered.end) if covered else (None, None)
        url = ti.log_url
    if detail is None:
        error = context.get("exception")
        detail = f"{type(error).__name__}: {error}" if error is not None else "failed"
    start, end = (
        None if t is None else (dt.datetime.fromisoformat(t) if isinstance(t, str) else t).isoformat()
        for t in (start, end)
    )
    detail = str(redact(detail))
    what = {
        "task_failed": f"task {dag_id}.{task_id} failed",
        "deadline_missed": f"run of {dag_id} missed its deadline",
        "monitor_decision": f"{dag_id} decided",
    }.get(event, event)
    title = f"[airflow] {what}"
    return {
        "event": event,
        "title": title,
        "text": f"{title}: {detail}\nrun {run_id}, interval [{start}, {end})\n{url}",
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "data_interval_start": start,
        "data_interval_end": end,
        "detail": detail,
        "url": url,
    }


def send_alert(message: Mapping[str, Any], context: Mapping[str, Any]) -> None:
    """Log ``message`` and send it to each target of ``alerts`` (see :class:`PipelineNotifier`).

    Raises:
        AirflowException: the webhook answered an error status; smtplib errors for mail.
    """
    alerts = load_shared().alerts
    log.warning("ALERT %s", message["text"])
    if alerts.webhook_conn_id:
        from airflow.providers.http.notifications.http import HttpNotifier

        HttpNotifier(http_conn_id=alerts.webhook_conn_id, json=dict(message)).notify(context)
    if alerts.smtp_to:
        import html

        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        body = f"<pre>{html.escape(message['text'])}</pre>"
        SmtpNotifier(
            to=alerts.smtp_to, smtp_conn_id=alerts.smtp_conn_id, subject=message["title"], html_content=body
        ).notify(context)


# Seconds a DAG file waits for the registry at parse time before offering a free version field.
REGISTRY_PARSE_TIMEOUT_S = 3


def registry_versions(cfg: PipelineConfig) -> list[dict] | str:
    """The model's versions a rollback can serve, and its champion, read from ``ml.model_versions``
    at parse time: rows ``{"version": int, "status": "candidate" | "archived" | "champion",
    "metric": float | None (the promotion metric on the version's holdout), "holdout_end":
    datetime}``, newest first. Or, when the registry cannot be read, the reason (a string).

    The one exception to "no I/O at DAG top level": a rollback form must list the versions that
    exist. It stays cheap: one indexed query over psycopg2 (no pandas, no SQLAlchemy), at most
    ``REGISTRY_PARSE_TIMEOUT_S`` seconds to connect and to run, read-only. The SQL is
    ``sql/ml/registry_rollback_choices.sql``, read directly: the warehouse module's loader pulls in
    pandas and pyarrow.
    """
    import psycopg2
    import psycopg2.extras

    from pipeline.config import PROJECT_ROOT
    from pipeline.data import local_pg

    if load_shared().airflow.warehouse_conn_id:  # the URL the tasks use: the Airflow Connection's
        try:
            url = connection_overrides()["warehouse"]["url"]
        except Exception as exc:  # a missing connection, no access to connections while parsing
            log.warning("rollback form: cannot read the warehouse connection: %s", exc)
            return "cannot read the warehouse connection (see the DAG processor's log)"
    else:
        url = cfg.warehouse.url or local_pg.url(cfg.warehouse.local_port)
    url = url.replace("postgresql+psycopg2://", "postgresql://", 1)  # libpq reads no SQLAlchemy driver name
    query = (PROJECT_ROOT / "sql" / "ml" / "registry_rollback_choices.sql").read_text()
    timeout_ms = REGISTRY_PARSE_TIMEOUT_S * 1000
    try:
        conn = psycopg2.connect(
            url,
            connect_timeout=REGISTRY_PARSE_TIMEOUT_S,
            options=f"-c statement_timeout={timeout_ms} -c default_transaction_read_only=on -c timezone=UTC",
        )
    except psycopg2.Error as exc:
        # The reason goes to the log only: libpq's message can quote a malformed URL, password and all,
        # and the form's text is stored with the DAG and shown to every UI user.
        log.warning("rollback form: cannot connect to the warehouse: %s", str(exc).strip().splitlines()[0])
        return "cannot connect to the warehouse (see the DAG processor's log)"
    try:
        with conn, conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(query, {"model_name": cfg.model.name, "metric": cfg.promotion_metric})
            return [dict(row) for row in cur.fetchall()]
    except psycopg2.Error as exc:
        return f"cannot read the registry ({str(exc).strip().splitlines()[0]})"
    finally:
        conn.close()
