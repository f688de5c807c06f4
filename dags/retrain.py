"""
### Retrain

Retrains the model on a schedule and promotes it only when it is better.

1. **extract_training_batch**: the feature table for the training window and holdout that end at
   this run's data interval end, stored as a Parquet batch. With *from_snapshot_version* set, the
   stored training snapshot of that version instead, retrained with that version's config: a
   reproduction with the same data, split and parameters.
2. **validate_training_batch**: the training expectation suite; a failure stops the run here.
3. **train_challenger**: fits the configured scikit-learn pipeline, evaluates it, a base-rate
   baseline and the current champion on the same holdout, and registers an immutable version
   with its artifacts.
4. **promote**: the challenger becomes champion if it beats the champion by the configured margin
   (or if there is none, or if *force_promote* is set). The decision and its reason go to
   `ml.model_versions`.

Runs on the schedule in `config/pipeline.yaml` and also whenever the `monitor` DAG requests a retrain
(drift or decay beyond its thresholds), as of the time in that request. Windows and model come from
the same config. A manual run covers the last complete
schedule period before the logical date you pick in the trigger form.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import (
    Asset,
    AssetOrTimeSchedule,
    CronDataIntervalTimetable,
    ExceptionRetryPolicy,
    Param,
    RetryAction,
    RetryRule,
    dag,
    get_current_context,
    task,
)

from pipeline.config import load_config

CFG = load_config()


@dag(
    dag_id="retrain",
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable(CFG.schedule.retrain, timezone=CFG.schedule.timezone),
        assets=[Asset(CFG.retrain_request_asset)],
    ),
    start_date=pendulum.datetime(*CFG.schedule.start_date.timetuple()[:3], tz=CFG.schedule.timezone),
    catchup=CFG.schedule.catchup,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["ml", CFG.model.name],
    params={
        "window_days": Param(
            CFG.training.window_days,
            type="integer",
            minimum=1,
            description="Days of labelled data before the holdout to train on.",
        ),
        "from_snapshot_version": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            description="Retrain from this version's stored snapshot and config instead of extracting.",
        ),
        "force_promote": Param(
            False, type="boolean", description="Make the new version champion whatever the holdout comparison says."
        ),
    },
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
def retrain():
    @task
    def extract_training_batch() -> dict:
        from pipeline import jobs

        context = get_current_context()
        cfg, run = jobs.task_inputs(context)
        version = context["params"]["from_snapshot_version"]
        return jobs.snapshot_batch(cfg, run, version) if version else jobs.extract(cfg, run)

    @task
    def validate_training_batch(batch: dict) -> dict:
        from pipeline import jobs

        return jobs.validate(*jobs.task_inputs(get_current_context()), batch)

    @task
    def train_challenger(batch: dict, validation: dict) -> dict:
        from pipeline import jobs

        return jobs.train(*jobs.task_inputs(get_current_context()), batch, validation)

    @task
    def promote(trained: dict) -> dict:
        from pipeline import jobs

        context = get_current_context()
        return jobs.promote(*jobs.task_inputs(context), trained, force=context["params"]["force_promote"])

    batch = extract_training_batch()
    promote(train_challenger(batch, validate_training_batch(batch)))


retrain_dag = retrain()

if __name__ == "__main__":
    retrain_dag.test()
