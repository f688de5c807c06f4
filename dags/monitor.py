"""
### Monitor `{model}`

Watches the champion of `{model}` ({task}) for drift and decay on the schedule `{schedule}`
({timezone}), and asks `retrain__{model}` for a new model when a trigger of its `monitoring.trigger`
config fires (by default: realized performance worse than the champion's own holdout value by more
than the margin, or the champion older than the maximum age; drift triggers when switched on).

1. **measure**: over the last `monitoring.window_days` before this run's data interval end:
   feature drift against the champion's training data (PSI, Wasserstein, Jensen-Shannon), prediction
   drift against its holdout predictions, realized performance of the predictions already made
   in `{table}` whose labels are known, and (classifiers) each day's performance estimated from the
   scores alone (CBPE). Written to `ml.feature_drift`, `ml.model_performance`,
   `ml.performance_estimates` and `ml.retrain_triggers`, replacing this interval's rows on a rerun.
   With `alerts.monitor_decisions` on, a retrain request (or one a cooldown suppressed) is alerted.
2. **should_retrain**: stops here unless a trigger fired and the last requested retrain is
   older than `monitoring.cooldown_days`.
3. **request_retrain**: updates the Asset `{asset}`, which triggers `retrain__{model}` (beside its
   regular schedule), as of this run's data interval end.

Config: `{source}`.
"""

from __future__ import annotations

from airflow.sdk import Asset, dag, get_current_context, task
from dag_toolkit import dag_args, dag_doc, dag_id, models, notify_decision, run_stage, timetable

from pipeline.config import PipelineConfig


def monitor_dag(cfg: PipelineConfig):
    """The monitor DAG of one model."""
    name = cfg.model.name
    retrain_request = Asset(cfg.retrain_request_asset)
    doc = dag_doc(__doc__, cfg, schedule=cfg.monitoring.schedule, asset=cfg.retrain_request_asset)

    @dag(
        dag_id=dag_id("monitor", cfg),
        schedule=timetable(cfg, cfg.monitoring.schedule),
        max_active_runs=1,
        **dag_args(cfg, doc),
    )
    def monitor():
        @task
        def measure() -> dict:
            from pipeline.stages import monitor

            decision = run_stage(name, monitor.measure)
            notify_decision(decision)
            return decision

        @task.short_circuit
        def should_retrain(decision: dict) -> bool:
            return decision["retrain"]

        @task(outlets=[retrain_request])
        def request_retrain(decision: dict) -> None:
            get_current_context()["outlet_events"][retrain_request].extra = {
                "as_of": decision["as_of"],
                "reasons": decision["reasons"],
            }

        decision = measure()
        should_retrain(decision) >> request_retrain(decision)

    return monitor()


for _cfg in models().values():
    globals()[dag_id("monitor", _cfg)] = monitor_dag(_cfg)
