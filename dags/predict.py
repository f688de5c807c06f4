"""
### Predict `{model}`

Scores the entities of the window after this run's cutoff with the current champion of `{model}`
({task}) on the schedule `{schedule}` ({timezone}), and writes timestamped predictions to `{table}`.
{forecast}
1. **resolve_models**: pins the champion version, and the shadow challengers set in
   `predictions` config, for the whole run; with no champion the run fails here and writes nothing.
2. **plan_scoring**: creates the predictions table on the first run (the key columns take the types
   the feature query returns), counts the scored window's entities and splits them into hash partitions
   of about `predictions.rows_per_partition` rows.
3. **score_partition** (one mapped task per partition, run in parallel by the executor): extracts
   the partition, checks that every row is as of the run's cutoff, validates it with the scoring
   expectation suite (a failure stops the run before anything is published), scores it in chunks
   with the champion (`is_champion = true`) and each shadow challenger (`is_champion = false`),
   and stages the rows. A retry replaces its own rows.
4. **publish**: replaces the rows of the interval's entities in the predictions table with the staged
   ones in one transaction, whichever interval wrote them, so reruns, retries, backfills and
   overlapping intervals never duplicate rows. Updates the Asset `{model}.predictions`; its event
   carries the data interval, the scored window, the rows and the champion version.

A run not finished `alerts.deadline_minutes` after it was queued (a scheduled run: after its
interval ends) sends a deadline alert; any task that fails for good sends a failure alert.

Read the results with `SELECT * FROM {table}_latest`. Config: `{source}`.
"""

from __future__ import annotations

from airflow.sdk import Asset, dag, get_current_context, task
from dag_toolkit import (
    dag_args,
    dag_doc,
    dag_id,
    forecast_doc,
    models,
    predict_deadline,
    predictions_event,
    run_stage,
    timetable,
)

from pipeline.config import PipelineConfig


def predict_dag(cfg: PipelineConfig):
    """The predict DAG of one model."""
    name = cfg.model.name
    predictions = Asset(f"{name}.predictions")
    doc = dag_doc(__doc__, cfg, schedule=cfg.schedule.predict, forecast=forecast_doc(cfg))

    @dag(
        dag_id=dag_id("predict", cfg),
        schedule=timetable(cfg, cfg.schedule.predict),
        max_active_runs=4,
        deadline=predict_deadline(),
        **dag_args(cfg, doc),
    )
    def predict():
        @task
        def resolve_models() -> dict:
            from pipeline.stages import predict

            return run_stage(name, predict.resolve_models)

        @task
        def plan_scoring() -> list[dict]:
            from pipeline.stages import predict

            return run_stage(name, predict.plan_scoring)

        @task
        def score_partition(spec: dict, models: dict) -> dict:
            from pipeline.stages import predict

            return run_stage(name, predict.score_partition, models, spec)

        @task(outlets=[predictions])
        def publish(models: dict, plan: list[dict], scored: list[dict]) -> dict:
            from pipeline.stages import predict

            published = run_stage(name, predict.publish, models, plan, list(scored))
            get_current_context()["outlet_events"][predictions].extra = predictions_event(published)
            return published

        models = resolve_models()
        plan = plan_scoring()
        models >> plan
        scored = score_partition.partial(models=models).expand(spec=plan)
        publish(models, plan, scored)

    return predict()


for _cfg in models().values():
    globals()[dag_id("predict", _cfg)] = predict_dag(_cfg)
