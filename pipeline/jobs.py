"""The pipeline's stages, each a function of (config, run context, small inputs) -> small dict.

Airflow tasks and the CLI call the same functions. Large data moves through the artifact store
(run-scoped Parquet batches under ``runs/<dag id>/<run id>/``); the returned dicts are small
references (keys, counts, versions, metrics) that fit in XCom.

    retrain:  extract("training") -> validate -> train -> promote
    predict:  resolve_champion -> extract("scoring") -> validate -> score
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import platform
import re
import subprocess
from dataclasses import dataclass
from typing import Any, Literal

from pipeline.config import PROJECT_ROOT, PipelineConfig, load_config
from pipeline.data import local_pg
from pipeline.data.artifacts import ArtifactStore, open_store
from pipeline.data.warehouse import Warehouse
from pipeline.errors import PermanentError

log = logging.getLogger(__name__)

Kind = Literal["training", "scoring"]


class NoChampionError(PermanentError):
    """The model has no champion, so there is nothing to score with."""


@dataclass(frozen=True)
class RunContext:
    """Who is running and for which data interval ``[start, end)`` (timezone-aware datetimes)."""

    dag_id: str
    run_id: str
    start: dt.datetime
    end: dt.datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("the data interval must be timezone-aware")
        if self.start >= self.end:
            raise ValueError(
                f"empty data interval [{self.start}, {self.end}): a run needs a data interval. "
                "Trigger manual runs with a logical date: the run then covers the last complete "
                "schedule period before it."
            )

    @classmethod
    def from_airflow(cls, context: dict[str, Any]) -> RunContext:
        """Build from an Airflow task context (``dag``, ``run_id``, ``data_interval_start/end``)."""
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        if start is None or end is None:
            raise ValueError(
                "this run has no data interval: trigger it with a logical date, which selects "
                "the last complete schedule period before it"
            )
        return cls(context["dag"].dag_id, context["run_id"], start, end)

    def key(self, name: str) -> str:
        """Artifact key for a run-scoped file: ``runs/<dag id>/<run id>/<name>``."""
        return f"runs/{self.dag_id}/{re.sub(r'[^A-Za-z0-9._-]', '_', self.run_id)}/{name}"


def task_inputs(context: dict[str, Any]) -> tuple[PipelineConfig, RunContext]:
    """Config and run context for an Airflow task: the config file with the run's ``window_days``
    param (when it has one) applied, and the run's data interval."""
    cfg = with_window_days(load_config(), (context.get("params") or {}).get("window_days"))
    return cfg, RunContext.from_airflow(context)


def open_warehouse(cfg: PipelineConfig) -> Warehouse:
    """The configured warehouse (``warehouse.url``), or the project's local cluster when unset.

    Raises:
        LocalClusterError: no URL is configured and the local cluster is not running.
    """
    if cfg.warehouse.url:
        return Warehouse(cfg.warehouse.url)
    if not local_pg.is_running(cfg.warehouse.local_path):
        raise local_pg.LocalClusterError(
            "warehouse.url is not set and the local cluster is not running: "
            "start it with `make warehouse`, or set PIPELINE_WAREHOUSE__URL"
        )
    return Warehouse(local_pg.url(cfg.warehouse.local_port))


def init_warehouse(cfg: PipelineConfig) -> Warehouse:
    """Open the warehouse and create the ``ml`` schema (registry, validation results) if missing."""
    warehouse = open_warehouse(cfg)
    warehouse.run("ml/schema")
    return warehouse


def code_version() -> str:
    """The git commit of the code, with ``-dirty`` for uncommitted changes, or ``unknown``."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev.stdout.strip() if rev.returncode == 0 else "unknown"


def _load_batch(store: ArtifactStore, batch: dict):
    from pipeline.features.build import from_parquet

    data = store.get(batch["key"])
    if hashlib.sha256(data).hexdigest() != batch["sha256"]:
        raise ValueError(f"batch {store.uri(batch['key'])} changed since extraction (SHA-256 mismatch)")
    return data, from_parquet(data)


def extract(cfg: PipelineConfig, ctx: RunContext, kind: Kind) -> dict:
    """Extract the feature table and store it as the run's Parquet batch.

    A training batch covers the training window and holdout that end at the data interval's end;
    a scoring batch covers the data interval itself.

    Returns:
        ``{"kind", "key", "uri", "rows", "sha256", "start", "end"}`` (times as ISO strings).
    """
    from pipeline.features.build import extract_feature_table, to_parquet
    from pipeline.models.train import TimeSplit

    if kind == "training":
        split = TimeSplit.ending_at(ctx.end, cfg.training)
        start, end = split.train_start, split.holdout_end
    else:
        start, end = ctx.start, ctx.end
    frame = extract_feature_table(init_warehouse(cfg), cfg.dataset, start, end, require_label=kind == "training")
    data, sha = to_parquet(frame)
    store = open_store(cfg.artifacts)
    key = ctx.key(f"{kind}.parquet")
    uri = store.put(key, data, overwrite=True)
    return {
        "kind": kind,
        "key": key,
        "uri": uri,
        "rows": len(frame),
        "sha256": sha,
        "start": start.isoformat(),
        "end": end.isoformat(),
    }


def validate(cfg: PipelineConfig, ctx: RunContext, batch: dict) -> dict:
    """Validate a batch against its expectation suite; store the result; stop on failure.

    The full GX result goes to the artifact store (``runs/.../validation-<kind>.json``) and a
    summary row to ``ml.validation_results``, whether or not the batch passes.

    Returns:
        The report summary plus ``artifact_uri``.

    Raises:
        ValidationFailedError: naming every failed expectation.
    """
    from pipeline.validation import validate_batch

    store = open_store(cfg.artifacts)
    _, frame = _load_batch(store, batch)
    kind = batch["kind"]
    report = validate_batch(frame, cfg.validation.suite_path(kind), kind)
    uri = store.put(
        ctx.key(f"validation-{kind}.json"), json.dumps(report.result, indent=2, default=str).encode(), overwrite=True
    )
    summary = report.summary()
    init_warehouse(cfg).run(
        "ml/validation_upsert",
        {
            "dag_id": ctx.dag_id,
            "run_id": ctx.run_id,
            "batch_kind": kind,
            "suite_name": report.suite_name,
            "start": batch["start"],
            "end": batch["end"],
            "row_count": batch["rows"],
            "success": report.success,
            "evaluated": report.evaluated,
            "failed": len(report.failed),
            "failed_expectations": json.dumps(report.failed, default=str),
            "artifact_uri": uri,
        },
    )
    report.raise_for_failure()
    return {**summary, "artifact_uri": uri}


def train(cfg: PipelineConfig, ctx: RunContext, batch: dict, validation: dict) -> dict:
    """Train a challenger on the batch, evaluate it, the baseline and the champion on the same
    holdout, and register it with its artifacts.

    Returns:
        ``{"model_name", "version", "metric", "challenger_metric", "champion_version",
        "champion_metric", "artifact_uri", "metrics"}``.
    """
    from pipeline.models import registry
    from pipeline.models.evaluate import baseline_metrics, classification_metrics
    from pipeline.models.train import TimeSplit, predict_proba, split_by_time, train_model
    from pipeline.visualization.plots import holdout_curves_png

    store = open_store(cfg.artifacts)
    warehouse = init_warehouse(cfg)
    data, frame = _load_batch(store, batch)
    split = TimeSplit.ending_at(ctx.end, cfg.training)
    train_df, holdout = split_by_time(frame, split, cfg.dataset)
    y_train, y_holdout = train_df[cfg.dataset.label].to_numpy(), holdout[cfg.dataset.label].to_numpy()
    model = train_model(train_df, cfg.model, cfg.dataset)
    probability = predict_proba(model, holdout, cfg.dataset)
    metrics = classification_metrics(y_holdout, probability)
    current = registry.champion(warehouse, cfg.model.name)
    champion_metrics = None
    if current is not None:
        champion_model = registry.load_model(store, current)
        champion_metrics = classification_metrics(y_holdout, predict_proba(champion_model, holdout, cfg.dataset))
    baseline = baseline_metrics(y_train, y_holdout)
    metric = cfg.promotion.metric
    log.info(
        "holdout %s: challenger %.4f, baseline %.4f, champion %s",
        metric,
        metrics[metric],
        baseline[metric],
        None if champion_metrics is None else round(champion_metrics[metric], 4),
    )

    import sklearn

    model_bytes, model_sha = registry.serialize_model(model)
    params = {
        "estimator": cfg.model.estimator,
        "params": cfg.model.params,
        "random_seed": cfg.model.random_seed,
        "config": cfg.model_dump(mode="json"),
        "sklearn_version": sklearn.__version__,
        "python_version": platform.python_version(),
    }
    feature_schema = {
        "key": cfg.dataset.key,
        "timestamp": cfg.dataset.timestamp,
        "label": cfg.dataset.label,
        "numeric_features": cfg.dataset.numeric_features,
        "categorical_features": cfg.dataset.categorical_features,
        "dtypes": {c: str(t) for c, t in frame.dtypes.items()},
    }
    metrics_doc = {
        "metric": metric,
        "challenger": metrics,
        "baseline": baseline,
        "champion": None if current is None else {"version": current["version"], "metrics": champion_metrics},
    }
    new = registry.NewVersion(
        model_name=cfg.model.name,
        metrics=metrics,
        baseline_metrics=baseline,
        params=params,
        train_start=split.train_start,
        train_end=split.holdout_start,
        holdout_start=split.holdout_start,
        holdout_end=split.holdout_end,
        train_rows=len(train_df),
        holdout_rows=len(holdout),
        training_data_sha256=batch["sha256"],
        code_version=code_version(),
        dag_id=ctx.dag_id,
        run_id=ctx.run_id,
    )
    record = registry.register(
        warehouse,
        store,
        new,
        model_bytes,
        model_sha,
        {
            "metrics.json": _json(metrics_doc),
            "params.json": _json(params),
            "feature_schema.json": _json(feature_schema),
            "validation.json": _json(validation),
            "training_data.parquet": data,
            "training_data.sha256": f"{batch['sha256']}  training_data.parquet\n".encode(),
            "holdout_curves.png": holdout_curves_png(
                y_holdout,
                probability,
                f"{cfg.model.name} challenger, holdout {split.holdout_start:%Y-%m-%d} to {split.holdout_end:%Y-%m-%d}",
            ),
        },
    )
    return {
        "model_name": cfg.model.name,
        "version": record["version"],
        "metric": metric,
        "challenger_metric": metrics[metric],
        "artifact_uri": record["artifact_uri"],
        "metrics": metrics,
        "champion_version": None if current is None else current["version"],
        "champion_metric": None if champion_metrics is None else champion_metrics[metric],
    }


def _json(doc: Any) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True, default=str).encode()


def promote(cfg: PipelineConfig, trained: dict, force: bool = False) -> dict:
    """Apply the promotion rule (:func:`pipeline.models.evaluate.promotion_decision`) to a trained
    challenger and record the decision in the registry.

    Returns:
        ``{"model_name", "version", "decision", "reason", "status"}``.
    """
    from pipeline.models import registry
    from pipeline.models.evaluate import promotion_decision

    decision, reason = promotion_decision(
        trained["metric"],
        trained["challenger_metric"],
        trained["champion_metric"],
        cfg.promotion.min_improvement,
        force,
    )
    row = registry.decide(
        init_warehouse(cfg),
        trained["model_name"],
        trained["version"],
        decision,
        reason,
        trained["champion_metric"],
        trained["champion_version"],
    )
    return {
        "model_name": row["model_name"],
        "version": row["version"],
        "decision": row["decision"],
        "reason": row["decision_reason"],
        "status": row["status"],
    }


def resolve_champion(cfg: PipelineConfig) -> dict:
    """The champion that this predict run will use: ``{"model_name", "version"}``.

    Raises:
        NoChampionError: the model has no champion yet (run ``retrain`` first).
    """
    from pipeline.models import registry

    record = registry.champion(init_warehouse(cfg), cfg.model.name)
    if record is None:
        raise NoChampionError(
            f"model {cfg.model.name!r} has no champion: run the retrain DAG first. Nothing was written."
        )
    return {"model_name": record["model_name"], "version": record["version"]}


def score(cfg: PipelineConfig, ctx: RunContext, batch: dict, champion: dict) -> dict:
    """Score a validated scoring batch with the pinned champion and replace the interval's rows in
    the predictions table (see :func:`pipeline.models.predict.write_predictions`).

    Returns:
        ``{"table", "rows", "model_name", "version", "start", "end"}``.
    """
    from pipeline.models import predict, registry

    store = open_store(cfg.artifacts)
    warehouse = init_warehouse(cfg)
    record = registry.get_version(warehouse, champion["model_name"], champion["version"])
    model = registry.load_model(store, record)
    _, frame = _load_batch(store, batch)
    scored = predict.score(model, frame, cfg.dataset, cfg.model.decision_threshold)
    predict.ensure_table(warehouse, cfg.predictions, cfg.dataset.key, predict.key_type(frame, cfg.dataset.key))
    rows = predict.write_predictions(
        warehouse,
        cfg.predictions,
        cfg.dataset.key,
        scored,
        model_name=record["model_name"],
        model_version=record["version"],
        is_champion=True,
        start=ctx.start,
        end=ctx.end,
        run_id=ctx.run_id,
    )
    return {
        "table": cfg.predictions.table,
        "rows": rows,
        "model_name": record["model_name"],
        "version": record["version"],
        "start": ctx.start.isoformat(),
        "end": ctx.end.isoformat(),
    }


def with_window_days(cfg: PipelineConfig, window_days: int | None) -> PipelineConfig:
    """``cfg`` with ``training.window_days`` replaced (a manual run's override), re-validated."""
    if window_days is None or window_days == cfg.training.window_days:
        return cfg
    training = type(cfg.training).model_validate({**cfg.training.model_dump(), "window_days": window_days})
    return cfg.model_copy(update={"training": training})


def retrain(cfg: PipelineConfig, ctx: RunContext, force: bool = False) -> dict:
    """The whole retrain DAG in one call (CLI): extract, validate, train, promote."""
    batch = extract(cfg, ctx, "training")
    trained = train(cfg, ctx, batch, validate(cfg, ctx, batch))
    return {**trained, **promote(cfg, trained, force)}


def predict(cfg: PipelineConfig, ctx: RunContext) -> dict:
    """The whole predict DAG in one call (CLI): resolve the champion, extract, validate, score."""
    champion = resolve_champion(cfg)
    batch = extract(cfg, ctx, "scoring")
    validate(cfg, ctx, batch)
    return score(cfg, ctx, batch, champion)


def summary(cfg: PipelineConfig) -> str:
    """A short human-readable report: every model version with its decision, the champion's holdout
    metrics against the baseline, the predictions written, and the SQL to read them."""
    from pipeline.models import predict

    warehouse = init_warehouse(cfg)
    versions = warehouse.fetch("ml/registry_list", {"model_name": cfg.model.name})
    lines = [f"model {cfg.model.name}: {len(versions)} version(s)"]
    for v in versions:
        lines.append(
            f"  v{v['version']:<3} {v['status']:<9} {v['decision'] or '-':<8} "
            f"holdout ROC AUC {v['metrics']['roc_auc']:.4f} (baseline {v['baseline_metrics']['roc_auc']:.2f})"
            f"  {v['decision_reason'] or ''}"
        )
    champ = next((v for v in versions if v["status"] == "champion"), None)
    if champ:
        m, b = champ["metrics"], champ["baseline_metrics"]
        lines.append(
            f"champion: v{champ['version']}, holdout [{champ['holdout_start']:%Y-%m-%d}, "
            f"{champ['holdout_end']:%Y-%m-%d}), {m['rows']} rows"
        )
        lines.append(
            "  "
            + ", ".join(
                f"{k} {m[k]:.4f} (baseline {b[k]:.4f})" for k in ("roc_auc", "average_precision", "log_loss", "brier")
            )
        )
        lines.append(f"  artifacts: {champ['artifact_uri']}")
    predict.ensure_table(warehouse, cfg.predictions, cfg.dataset.key, "bigint")
    p = warehouse.fetch("ml/predictions_summary", table=cfg.predictions.table)[0]
    lines.append(f"predictions: {p['row_count']} rows in {p['intervals']} interval(s) in {cfg.predictions.table}")
    lines += [
        "",
        "Read them with SQL (make sql):",
        f"  SELECT * FROM {cfg.predictions.table}_latest ORDER BY score DESC LIMIT 10;",
        f"  SELECT version, status, decision, metrics->>'roc_auc' AS roc_auc FROM ml.model_versions "
        f"WHERE model_name = '{cfg.model.name}';",
    ]
    return "\n".join(lines)
