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

from airflow.sdk import dag, task
from dag_toolkit import config, dag_args, run_stage, timetable

CFG = config()


@dag(dag_id="predict", schedule=timetable(CFG, CFG.schedule.predict), max_active_runs=4, **dag_args(CFG, __doc__))
def predict():
    @task
    def resolve_models() -> dict:
        from pipeline.stages import predict

        return run_stage(predict.resolve_models)

    @task
    def plan_scoring() -> list[dict]:
        from pipeline.stages import predict

        return run_stage(predict.plan_scoring)

    @task
    def score_partition(spec: dict, models: dict) -> dict:
        from pipeline.stages import predict

        return run_stage(predict.score_partition, models, spec)

    @task
    def publish(models: dict, plan: list[dict], scored: list[dict]) -> dict:
        from pipeline.stages import predict

        return run_stage(predict.publish, models, plan)

    models = resolve_models()
    plan = plan_scoring()
    models >> plan
    scored = score_partition.partial(models=models).expand(spec=plan)
    publish(models, plan, scored)


predict_dag = predict()

if __name__ == "__main__":
    predict_dag.test()
