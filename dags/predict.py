"""
### Predict

Scores the entities of this run's data interval (for flights: those scheduled in it) with the
current champion and writes timestamped predictions to the warehouse.

1. **resolve_models**: pins the champion version, and the shadow challengers set in
   `predictions` config, for the whole run; with no champion the run fails here and writes nothing.
2. **plan_scoring**: counts the interval's entities and splits them into hash partitions of about
   `predictions.rows_per_partition` rows.
3. **score_partition** (one mapped task per partition, run in parallel by the executor): extracts
   the partition, validates it with the scoring expectation suite (a failure stops the run before
   anything is published), scores it in chunks with the champion (`is_champion = true`) and each
   shadow challenger (`is_champion = false`), and stages the rows. A retry replaces its own rows.
4. **publish**: replaces the interval's rows in the predictions table with the staged ones in one
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
    def plan_scoring() -> list[dict]:
        from pipeline import jobs

        return jobs.plan_scoring(*jobs.task_inputs(get_current_context()))

    @task
    def score_partition(spec: dict, models: dict) -> dict:
        from pipeline import jobs

        return jobs.score_partition(*jobs.task_inputs(get_current_context()), models, spec)

    @task
    def publish(models: dict, plan: list[dict], scored: list[dict]) -> dict:
        from pipeline import jobs

        return jobs.publish(*jobs.task_inputs(get_current_context()), models, plan)

    models = resolve_models()
    plan = plan_scoring()
    models >> plan
    scored = score_partition.partial(models=models).expand(spec=plan)
    publish(models, plan, scored)


predict_dag = predict()

if __name__ == "__main__":
    predict_dag.test()
