"""
### Predict

Scores the entities of this run's data interval (for flights: those scheduled in it) with the
current champion and writes timestamped predictions to the warehouse.

1. **resolve_models**: pins the champion version, and the shadow challengers set in
   `predictions` config, for the whole run; with no champion the run fails here and writes nothing.
2. **extract_scoring_batch**: the feature table for the data interval.
3. **validate_scoring_batch**: the scoring expectation suite; a failure stops the run here.
4. **score**: scores the batch with the champion (`is_champion = true`) and each shadow challenger
   (`is_champion = false`) and replaces the interval's rows in the predictions table in one
   transaction, so reruns, retries and backfills never duplicate rows.

Read the results with `SELECT * FROM ml.flight_delay_predictions_latest` (the table is configured
in `config/pipeline.yaml`). A manual run covers the last complete schedule period before the logical
date you pick in the trigger form.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import (
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


@dag(
    dag_id="predict",
    schedule=CronDataIntervalTimetable(CFG.schedule.predict, timezone=CFG.schedule.timezone),
    start_date=pendulum.datetime(*CFG.schedule.start_date.timetuple()[:3], tz=CFG.schedule.timezone),
    catchup=CFG.schedule.catchup,
    max_active_runs=4,
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
def predict():
    @task
    def resolve_models() -> dict:
        from pipeline import jobs

        cfg, _ = jobs.task_inputs(get_current_context())
        return jobs.resolve_models(cfg)

    @task
    def extract_scoring_batch() -> dict:
        from pipeline import jobs

        return jobs.extract(*jobs.task_inputs(get_current_context()), "scoring")

    @task
    def validate_scoring_batch(batch: dict) -> dict:
        from pipeline import jobs

        return jobs.validate(*jobs.task_inputs(get_current_context()), batch)

    @task
    def score(batch: dict, models: dict, validation: dict) -> dict:
        from pipeline import jobs

        return jobs.score(*jobs.task_inputs(get_current_context()), batch, models)

    models = resolve_models()
    batch = extract_scoring_batch()
    models >> batch
    score(batch, models, validate_scoring_batch(batch))


predict_dag = predict()

if __name__ == "__main__":
    predict_dag.test()
