"""
### Retrain `{model}`

Retrains the `{model}` model ({task}) on its schedule, `{schedule}` ({timezone}), and whenever
`monitor__{model}` asks for it, and promotes the new version unless it is worse than the champion beyond noise.

1. **extract_training_batch**: the feature table for the training window and holdout that end at
   this run's data interval end, stored as a Parquet batch. With *from_snapshot_version* set, the
   stored training snapshot of that version instead, retrained with that version's config: a
   reproduction with the same data, split and parameters.
2. **validate_training_batch**: the training expectation suite; a failure stops the run here.
3. **train_challenger**: fits the configured scikit-learn pipeline, evaluates it, a baseline and the
   current champion on the same holdout, runs the promotion gate against the champion (paired
   bootstrap intervals of each metric's difference; the log quotes them), and registers an immutable
   version with its artifacts and lineage (feature SQL, expectation suites, config, code version); the
   task log names its model card (`model card: <uri>`), as does promote's.
4. **promote**: the challenger becomes champion unless the gate found it worse than the champion in
   `{metric}` or a guardrail metric beyond its tolerance, with confidence (`promotion.rule`; with no
   champion it must beat the baseline), or if *force_promote* is set. The decision, its reason and
   the gate's intervals (`decision_evidence`) go to `ml.model_versions`. Updates the Asset
   `{model}.champion`; its event carries the version, its holdout metrics, the reason and whether
   the champion changed.

The champion scores into `{table}` through `predict__{model}`. Schedule: a run at each tick of
cron `{schedule}` ({timezone}), and one at each update of the Asset `{asset}` (sent by
`monitor__{model}`). The UI's Schedule column shows only the Asset; the DAG's description (its
tooltip in the DAG list, and the Details tab) names both.

Config: `{source}`.
"""

from __future__ import annotations

from airflow.sdk import Asset, AssetOrTimeSchedule, Param, dag, get_current_context, task
from dag_toolkit import champion_event, dag_args, dag_doc, dag_id, models, run_stage, timetable

from pipeline.config import PipelineConfig


def retrain_dag(cfg: PipelineConfig):
    """The retrain DAG of one model."""
    name = cfg.model.name
    doc = dag_doc(
        __doc__, cfg, schedule=cfg.schedule.retrain, metric=cfg.promotion_metric, asset=cfg.retrain_request_asset
    )

    cron = timetable(cfg, cfg.schedule.retrain)
    champion = Asset(f"{name}.champion")

    @dag(
        dag_id=dag_id("retrain", cfg),
        # The UI's Schedule column shows only the asset of an AssetOrTimeSchedule: say both here.
        description=(
            f"Retrains {name} on cron `{cron.expression}` ({cfg.schedule.timezone}), "
            f"or when monitor__{name} updates the asset {cfg.retrain_request_asset}."
        ),
        schedule=AssetOrTimeSchedule(timetable=cron, assets=[Asset(cfg.retrain_request_asset)]),
        max_active_runs=1,
        params={
            "window_days": Param(
                cfg.training.window_days,
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
                False,
                type="boolean",
                description="Make the new version champion whatever the holdout comparison says.",
            ),
        },
        **dag_args(cfg, doc),
    )
    def retrain():
        @task
        def extract_training_batch() -> dict:
            from pipeline.stages import retrain

            version = get_current_context()["params"]["from_snapshot_version"]
            return run_stage(name, retrain.snapshot, version) if version else run_stage(name, retrain.extract)

        @task
        def validate_training_batch(batch: dict) -> dict:
            from pipeline.stages import retrain

            return run_stage(name, retrain.validate, batch)

        @task
        def train_challenger(batch: dict, validation: dict) -> dict:
            from pipeline.stages import retrain

            return run_stage(name, retrain.train, batch, validation)

        @task(outlets=[champion])
        def promote(trained: dict) -> dict:
            from pipeline.stages import retrain

            context = get_current_context()
            result = run_stage(name, retrain.promote, trained, force=context["params"]["force_promote"])
            context["outlet_events"][champion].extra = champion_event(result, result["reason"])
            return result

        batch = extract_training_batch()
        promote(train_challenger(batch, validate_training_batch(batch)))

    return retrain()


for _cfg in models().values():
    globals()[dag_id("retrain", _cfg)] = retrain_dag(_cfg)
