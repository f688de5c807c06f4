"""The DAGs' alerts: a task that failed for good, a predict run past its deadline, and monitor's
retrain decisions, sent to the targets of the shared config's ``alerts`` section.

The triggerer runs the predict deadline's callback, :class:`PipelineNotifier`, by its import path
``dag_toolkit.alerts.PipelineNotifier``: the toolkit is installed with the project's package
(``pyproject.toml``), so every Airflow process imports it without ``PYTHONPATH``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from airflow.sdk import AsyncCallback, BaseNotifier, DeadlineAlert, DeadlineReference, get_current_context

from dag_toolkit.connections import redact
from dag_toolkit.context import run_context
from dag_toolkit.timetables import schedule_period, timetable
from pipeline.config import load_config, load_shared

log = logging.getLogger(__name__)


class PipelineNotifier(BaseNotifier):
    """One alert, sent to the targets of the shared config's ``alerts`` section: a JSON POST to the
    HTTP connection ``alerts.webhook_conn_id`` (the http provider's ``HttpNotifier``) and a mail to
    ``alerts.smtp_to`` (the smtp provider's ``SmtpNotifier``); with neither set it is only logged.
    The targets are read when the alert is sent, so a config change needs no DAG reparse.

    Used as every task's failure callback (``event="task_failed"``: after the last retry), as the
    predict DAG's deadline callback (``"deadline_missed"``, run by the triggerer) and for monitor's
    decisions (``"monitor_decision"``). The message is :func:`alert_message`. A target that fails
    raises (Airflow logs a failed callback).
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
        decision, the missed deadline; the connection secrets of this process redacted,
        :func:`~dag_toolkit.connections.redact`), ``url`` (the task's or the run's page in the UI),
        ``title`` and ``text`` (all of it as lines: what a Slack-style incoming webhook shows).
    """
    from airflow.sdk import conf

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
    detail = redact(str(detail))
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
