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

from airflow.sdk import Asset, dag, get_current_context, task
from dag_toolkit import config, dag_args, run_stage, timetable

CFG = config()
RETRAIN_REQUEST = Asset(CFG.retrain_request_asset)


@dag(dag_id="monitor", schedule=timetable(CFG, CFG.monitoring.schedule), max_active_runs=1, **dag_args(CFG, __doc__))
def monitor():
    @task
    def measure() -> dict:
        from pipeline.stages import monitor

        return run_stage(monitor.measure)

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
