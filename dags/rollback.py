"""
### Rollback

Makes an earlier valid version of a model champion again, from the UI. Pick the model and the
version; the change is recorded in `ml.champion_history` with reason `rollback`, this run as actor,
and the note you give.

An unknown version, a version that failed or is still pending, or a version whose model artifact is
missing or altered fails the run and changes nothing.

The new champion is live from this run's logical date (pick it in the trigger form; it defaults to
now). The model's next `predict__<model>` run scores with it.

Models: {models}.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task
from dag_toolkit import dag_args, models, run_stage

MODELS = sorted(models())


@dag(
    dag_id="rollback",
    schedule=None,
    max_active_runs=1,
    params={
        "model_name": Param(
            MODELS[0] if MODELS else None,
            type="string",
            enum=MODELS,
            description="The model to roll back (one file in config/models each).",
        ),
        "version": Param(1, type="integer", minimum=1, description="The version to make champion."),
        "note": Param("manual rollback", type="string", minLength=1, description="Why; stored in the history."),
    },
    **dag_args(None, __doc__.format(models=", ".join(f"`{m}`" for m in MODELS) or "none configured")),
)
def rollback_version():
    @task(retries=0)
    def rollback() -> dict:
        from pipeline.stages import rollback as stage

        context = get_current_context()
        params = context["params"]
        request = stage.RollbackRequest(
            model_name=params["model_name"],
            version=params["version"],
            valid_from=context.get("logical_date") or context["dag_run"].run_after,
            actor=f"{context['dag'].dag_id}/{context['run_id']}",
            note=params["note"],
        )
        return run_stage(params["model_name"], stage.rollback, request)

    rollback()


rollback_dag = rollback_version()
