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

from airflow.sdk import Asset, AssetOrTimeSchedule, Param, dag, get_current_context, task
from dag_toolkit import config, dag_args, run_stage, timetable

CFG = config()


@dag(
    dag_id="retrain",
    schedule=AssetOrTimeSchedule(
        timetable=timetable(CFG, CFG.schedule.retrain), assets=[Asset(CFG.retrain_request_asset)]
    ),
    max_active_runs=1,
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
    **dag_args(CFG, __doc__),
)
def retrain():
    @task
    def extract_training_batch() -> dict:
        from pipeline.stages import retrain

        version = get_current_context()["params"]["from_snapshot_version"]
        return run_stage(retrain.snapshot, version) if version else run_stage(retrain.extract)

    @task
    def validate_training_batch(batch: dict) -> dict:
        from pipeline.stages import retrain

        return run_stage(retrain.validate, batch)

    @task
    def train_challenger(batch: dict, validation: dict) -> dict:
        from pipeline.stages import retrain

        return run_stage(retrain.train, batch, validation)

    @task
    def promote(trained: dict) -> dict:
        from pipeline.stages import retrain

        return run_stage(retrain.promote, trained, force=get_current_context()["params"]["force_promote"])

    batch = extract_training_batch()
    promote(train_challenger(batch, validate_training_batch(batch)))


retrain_dag = retrain()

if __name__ == "__main__":
    retrain_dag.test()
