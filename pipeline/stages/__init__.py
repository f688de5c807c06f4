"""The pipeline's stages: one module per DAG, each stage a function of a :class:`Runtime` (config,
run context, warehouse, artifact store) and small typed inputs, returning a small typed result.

Airflow tasks (through ``dags/dag_toolkit/``), the CLI and tests call the same functions. Large
data moves through the artifact store (run-scoped Parquet batches under ``runs/<dag id>/<run id>/``)
and the warehouse; results are ``TypedDict`` s of keys, counts, versions and metrics that fit in XCom.

    retrain:   extract | snapshot -> validate -> train -> promote
    predict:   resolve_models -> plan_scoring -> score_partition (mapped) -> publish
    monitor:   measure
    rollback:  rollback
    cleanup:   run (one model's leftovers: staged rows, run files, stale pending versions)
"""

from pipeline.stages.runtime import RunContext, Runtime

__all__ = ["RunContext", "Runtime"]
