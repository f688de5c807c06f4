"""
### Promote (rollback)

Makes an earlier valid model version champion again, from the UI. Trigger it with the model name
and version; the change is recorded in `ml.champion_history` with reason `rollback`, this run as
actor, and the note you give.

An unknown version, another model's version, a version that failed or is still pending, or a
version whose model artifact is missing or altered fails the run and changes nothing.

The new champion is live from this run's logical date (pick it in the trigger form; it defaults to
now). The next `predict` run scores with it.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from pipeline.config import load_config

CFG = load_config()


@dag(
    dag_id="promote",
    schedule=None,
    start_date=pendulum.datetime(*CFG.schedule.start_date.timetuple()[:3], tz=CFG.schedule.timezone),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["ml", CFG.model.name],
    params={
        "model_name": Param(CFG.model.name, type="string", description="Registered model name."),
        "version": Param(1, type="integer", minimum=1, description="The version to make champion."),
        "note": Param("manual rollback", type="string", minLength=1, description="Why; stored in the history."),
    },
)
def promote():
    @task(retries=0)
    def rollback() -> dict:
        from pipeline import jobs

        context = get_current_context()
        params = context["params"]
        valid_from = context.get("logical_date") or context["dag_run"].run_after
        actor = f"{context['dag'].dag_id}/{context['run_id']}"
        return jobs.rollback(load_config(), params["model_name"], params["version"], valid_from, actor, params["note"])

    rollback()


promote_dag = promote()

if __name__ == "__main__":
    promote_dag.test()
