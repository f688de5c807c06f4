"""
### Monitor

Watches the champion for drift and decay, and asks for a retrain when they cross the thresholds in
`config/pipeline.yaml` (`monitoring`).

1. **measure**: over the last `monitoring.window_days` before this run's data interval end:
   feature drift against the champion's training data (PSI, Wasserstein, Jensen-Shannon), prediction
   drift against its holdout scores, and realized performance (ROC AUC, Brier score, log loss) of
   the predictions already made, now that their labels are known. Written to `ml.feature_drift`,
   `ml.model_performance` and `ml.retrain_triggers`, replacing this interval's rows on a rerun.
2. **should_retrain**: stops here unless a threshold was crossed and the last requested retrain is
   older than `monitoring.cooldown_days`.
3. **request_retrain**: updates the retrain-request Asset, which triggers the `retrain` DAG (beside
   its regular schedule), as of this run's data interval end.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import (
    Asset,
    CronDataIntervalTimetable,
    ExceptionRetryPolicy,
    RetryAction,
    RetryRule,
    dag,
    get_current_context,
    task,
)

from pipeline.config import load_config

CFG = load_config()
RETRAIN_REQUEST = Asset(CFG.retrain_request_asset)


@dag(
    dag_id="monitor",
    schedule=CronDataIntervalTimetable(CFG.monitoring.schedule, timezone=CFG.schedule.timezone),
    start_date=pendulum.datetime(*CFG.schedule.start_date.timetuple()[:3], tz=CFG.schedule.timezone),
    catchup=CFG.schedule.catchup,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["ml", CFG.model.name],
    default_args={
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=2),
        "retry_policy": ExceptionRetryPolicy(
            rules=[
                RetryRule(
                    exception="pipeline.errors.PermanentError", action=RetryAction.FAIL, reason="retrying cannot fix it"
                )
            ]
        ),
    },
)
def monitor():
    @task
    def measure() -> dict:
        from pipeline import jobs

        return jobs.monitor(*jobs.task_inputs(get_current_context()))

    @task.short_circuit
    def should_retrain(decision: dict) -> bool:
        return decision["retrain"]

    @task(outlets=[RETRAIN_REQUEST])
    def request_retrain(decision: dict) -> None:
        get_current_context()["outlet_events"][RETRAIN_REQUEST].extra = {
            "as_of": decision["as_of"],
            "reasons": decision["reasons"],
        }

    decision = measure()
    should_retrain(decision) >> request_retrain(decision)


monitor_dag = monitor()

if __name__ == "__main__":
    monitor_dag.test()
