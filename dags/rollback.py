"""
### Rollback `{model}`

Makes an earlier valid version of `{model}` ({task}) champion again, from the UI. Pick the version;
the change is recorded in `ml.champion_history` with reason `rollback`, this run as actor, and the
note you give. From *valid from* on, `predict__{model}` (schedule `{schedule}`, {timezone}) scores
into `{table}` with it.

{versions}

The form offers only versions that can be served: `candidate` or `archived`, never `pending`,
`failed` or the current champion. The list is read from the registry each time this file is parsed
(every `[dag_processor] min_file_process_interval`), so a version registered a moment ago may need a
reparse to appear. A version that changed state since, or whose model artifact is missing or
altered, fails the run and changes nothing. Clearing or retrying a run whose version is champion by
now succeeds and says it had nothing to do. Each run updates the Asset `{model}.champion`; its event
carries the version, its holdout metrics and the note.

**Leave the logical date empty** in the trigger form: a rollback covers no data interval, and two
runs with the same logical date conflict (Airflow refuses the second with a 409), so a refused
rollback could not be retried at that date. The new champion is live from the *valid_from* param,
or, when it is empty, from the moment you trigger the run (its *run after*).

Config: `{source}`. Manual only; never retried.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, Param, dag, get_current_context, task
from dag_toolkit import champion_event, dag_args, dag_doc, dag_id, models, registry_versions, run_stage

from pipeline.config import PipelineConfig


def version_param(cfg: PipelineConfig, versions: list[dict] | str) -> tuple[Param, str]:
    """The ``version`` param of the model's rollback form, and a Markdown paragraph on it for the doc.

    With the registry read (``versions``, see :func:`dag_toolkit.forms.registry_versions`): an integer enum
    of the candidate and archived versions and the champion, newest first, each shown in the drop-down
    with its status and holdout metric (the champion's "a run changes nothing": a cleared or retried
    rollback run whose version is now champion must still pass validation); no default, so the form
    asks for a pick, and any other number is refused by param validation before a run is created.
    With the registry unreadable at parse time (a reason string) or nothing to roll back to: a free
    integer (``minimum`` 1, no default) whose description says why; the rollback task then checks it.
    """
    metric = cfg.promotion_metric
    if isinstance(versions, str):
        why = f"The registry could not be read when this DAG was parsed: {versions}. Type a version number."
        return Param(type="integer", minimum=1, description=why), f"**Versions:** not listed. {why}"

    def label(row: dict) -> str:
        score = "n/a" if row["metric"] is None else f"{row['metric']:.4f}"
        return f"v{row['version']}: {row['status']}, holdout {metric} {score}, holdout to {row['holdout_end']:%Y-%m-%d}"

    champion = [label(row) for row in versions if row["status"] == "champion"]
    choices = [row for row in versions if row["status"] != "champion"]
    now = f"Champion now: {champion[0] if champion else 'none'}."
    if not choices:
        why = f"No version to roll back to when this DAG was parsed. {now}"
        return Param(type="integer", minimum=1, description=why), f"**Versions:** {why}"
    listed = "; ".join(label(row) for row in choices)
    # The champion stays a valid value, shown as such: a rollback run cleared or retried after it made
    # its version champion must still pass param validation (it then succeeds with nothing to do).
    param = Param(
        type="integer",
        enum=[row["version"] for row in versions],
        values_display={
            str(row["version"]): label(row) + (" (a run changes nothing)" if row["status"] == "champion" else "")
            for row in versions
        },
        description=f"The version to make champion. {now} Offered: {listed}.",
    )
    doc = "**Versions** (when this DAG was parsed): " + now + "\n\n" + "\n".join(f"- {label(r)}" for r in choices)
    return param, doc


def rollback_dag(cfg: PipelineConfig):
    """The rollback DAG of one model: manual only, its version form read from the registry."""
    name = cfg.model.name
    version, versions_doc = version_param(cfg, registry_versions(cfg))
    champion = Asset(f"{name}.champion")
    doc = dag_doc(__doc__, cfg, intervals=False, schedule=cfg.schedule.predict, versions=versions_doc)

    @dag(
        dag_id=dag_id("rollback", cfg),
        description=f"Manual: make an earlier version of {name} champion again (scores into {cfg.predictions.table}).",
        schedule=None,
        max_active_runs=1,
        params={
            "version": version,
            "valid_from": Param(
                None,
                type=["null", "string"],
                format="date-time",
                description="Logical time from which the version is live; empty: when you trigger the run.",
            ),
            "note": Param("manual rollback", type="string", minLength=1, description="Why; stored in the history."),
        },
        **dag_args(cfg, doc),
    )
    def rollback_version():
        @task(retries=0, outlets=[champion])
        def rollback() -> dict:
            from pipeline.stages import rollback as stage

            context = get_current_context()
            params = context["params"]
            valid_from = params["valid_from"]
            valid_from = dt.datetime.fromisoformat(valid_from) if valid_from else context["dag_run"].run_after
            request = stage.RollbackRequest(
                model_name=name,
                version=params["version"],
                valid_from=valid_from if valid_from.tzinfo else valid_from.replace(tzinfo=dt.UTC),
                actor=f"{context['dag'].dag_id}/{context['run_id']}",
                note=params["note"],
            )
            result = run_stage(name, stage.rollback, request)
            context["outlet_events"][champion].extra = champion_event(result, f"rollback: {params['note']}")
            return result

        rollback()

    return rollback_version()


for _cfg in models().values():
    globals()[dag_id("rollback", _cfg)] = rollback_dag(_cfg)
