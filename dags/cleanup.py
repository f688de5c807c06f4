"""
### Cleanup

Daily, for each model ({models}), removes what runs left behind, after the ages set in the shared
config's `retention` section and each model's `training` section:

- staged predictions older than `retention.staging_hours`: a predict run that crashed before
  publishing (a publish clears its own rows);
- run-scoped files under `runs/<dag id>/` older than `retention.run_artifacts_days` (training
  batches), except files a registry or validation record points at;
- versions still `pending` after `training.pending_timeout_hours` (a killed retrain) are marked
  `failed`, with the reason, and never served.

A registered version's artifacts (`<model>/<version>/`) are never removed. Ages count back from the
run's data interval end, so a rerun of an interval removes the same things. `pipeline cleanup` does
the same from the command line.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task
from dag_toolkit import dag_args, models, run_stage

MODELS = sorted(models())


@dag(
    dag_id="cleanup",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2013, 1, 1, tz="UTC"),
    max_active_runs=1,
    **dag_args(None, __doc__.format(models=", ".join(f"`{m}`" for m in MODELS) or "none configured")),
)
def cleanup():
    @task
    def clean(model_name: str) -> dict:
        from pipeline.stages import cleanup as stage

        return run_stage(model_name, stage.run)

    clean.expand(model_name=MODELS)


cleanup_dag = cleanup()
