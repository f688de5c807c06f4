"""The pipeline's stages, each a function of (config, run context, small inputs) -> small dict.

Airflow tasks and the CLI call the same functions. Large data moves through the artifact store
(run-scoped Parquet batches under ``runs/<dag id>/<run id>/``); the returned dicts are small
references (keys, counts, versions, metrics) that fit in XCom.

    retrain:  extract | snapshot_batch(version) -> validate -> train -> promote
    predict:  resolve_models -> plan_scoring -> score_partition (mapped over partitions) -> publish
    promote:  rollback
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
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
    dag_version: str | None = None

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
            # An asset-triggered run (monitor asked for a retrain) has no data interval: it runs as
            # of the logical time the request carries, over the day before it.
            requested = [
                dt.datetime.fromisoformat(event.extra["as_of"])
                for events in (context.get("triggering_asset_events") or {}).values()
                for event in events
                if "as_of" in (event.extra or {})
            ]
            if not requested:
                raise ValueError(
                    "this run has no data interval: trigger it with a logical date, which selects "
                    "the last complete schedule period before it"
                )
            end = max(requested)
            start = end - dt.timedelta(days=1)
        ti = context.get("ti")
        dag_version = getattr(ti, "dag_version_id", None)
        return cls(
            context["dag"].dag_id, context["run_id"], start, end, None if dag_version is None else str(dag_version)
        )

    @property
    def actor(self) -> str:
        """``<dag id>/<run id>``: who made a registry change."""
        return f"{self.dag_id}/{self.run_id}"

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


def _json(doc: Any) -> bytes:
    return json.dumps(doc, indent=2, sort_keys=True, default=str).encode()


def _batch_ref(
    store: ArtifactStore,
    ctx: RunContext,
    kind: Kind,
    data: bytes,
    sha: str,
    rows: int,
    start: dt.datetime,
    end: dt.datetime,
    **extra: Any,
) -> dict:
    key = ctx.key(f"{kind}.parquet")
    uri = store.put(key, data, overwrite=True)
    return {
        "kind": kind,
        "key": key,
        "uri": uri,
        "rows": rows,
        "sha256": sha,
        "start": start.isoformat(),
        "end": end.isoformat(),
        **extra,
    }


def extract(cfg: PipelineConfig, ctx: RunContext) -> dict:
    """Extract the training window and holdout that end at the data interval's end, and store them
    as the run's Parquet training batch.

    Returns:
        ``{"kind": "training", "key", "uri", "rows", "sha256", "start", "end", "split"}`` (times as
        ISO strings; ``split``: ``train_start``, ``holdout_start``, ``holdout_end``).
    """
    from pipeline.features.build import extract_feature_table, to_parquet
    from pipeline.models.train import TimeSplit

    split = TimeSplit.ending_at(ctx.end, cfg.training)
    start, end = split.train_start, split.holdout_end
    frame = extract_feature_table(init_warehouse(cfg), cfg.dataset, start, end, require_label=True)
    data, sha = to_parquet(frame)
    return _batch_ref(
        open_store(cfg.artifacts), ctx, "training", data, sha, len(frame), start, end, split=split.to_dict()
    )


def snapshot_batch(cfg: PipelineConfig, ctx: RunContext, version: int) -> dict:
    """A training batch made from a registered version's stored snapshot, for reproducible retraining:
    the same rows, the same split, and (in :func:`train`) the same config as that version.

    Raises:
        RegistryError: unknown version.
        ArtifactIntegrityError: the snapshot's SHA-256 differs from the registered one.
    """
    from pipeline.models import registry

    store = open_store(cfg.artifacts)
    record = registry.get_version(init_warehouse(cfg), cfg.model.name, version)
    data = registry.load_training_snapshot(store, record)
    split = {k: record[k].isoformat() for k in ("train_start", "holdout_start", "holdout_end")}
    return _batch_ref(
        store,
        ctx,
        "training",
        data,
        record["training_data_sha256"],
        record["train_rows"] + record["holdout_rows"],
        record["train_start"],
        record["holdout_end"],
        split=split,
        reproduces=version,
    )


def validate(cfg: PipelineConfig, ctx: RunContext, batch: dict) -> dict:
    """Validate a stored batch against its expectation suite (:func:`validate_frame`)."""
    _, frame = _load_batch(open_store(cfg.artifacts), batch)
    return validate_frame(cfg, ctx, frame, batch["kind"], batch["kind"], batch["start"], batch["end"])


def validate_frame(cfg: PipelineConfig, ctx: RunContext, frame, kind: Kind, name: str, start: Any, end: Any) -> dict:
    """Validate a batch with the ``kind`` expectation suite; store the result; stop on failure.

    The full GX result goes to the artifact store (``runs/.../validation-<name>.json``) and a
    summary row (``batch_kind`` = ``name``) to ``ml.validation_results``, pass or fail.

    Returns:
        The report summary plus ``artifact_uri``.

    Raises:
        ValidationFailedError: naming every failed expectation.
    """
    from pipeline.validation import validate_batch

    report = validate_batch(frame, cfg.validation.suite_path(kind), name)
    uri = open_store(cfg.artifacts).put(ctx.key(f"validation-{name}.json"), _json(report.result), overwrite=True)
    init_warehouse(cfg).run(
        "ml/validation_upsert",
        {
            "dag_id": ctx.dag_id,
            "run_id": ctx.run_id,
            "batch_kind": name,
            "suite_name": report.suite_name,
            "start": start,
            "end": end,
            "row_count": len(frame),
            "success": report.success,
            "evaluated": report.evaluated,
            "failed": len(report.failed),
            "failed_expectations": json.dumps(report.failed, default=str),
            "artifact_uri": uri,
        },
    )
    report.raise_for_failure()
    return {**report.summary(), "artifact_uri": uri}


def config_of_version(cfg: PipelineConfig, record: dict) -> PipelineConfig:
    """``cfg`` with the dataset, model, training and promotion sections a version was trained with
    (where to find the warehouse and artifacts still comes from ``cfg``)."""
    stored = record["config"]
    sections = {k: stored[k] for k in ("dataset", "model", "training", "promotion")}
    return type(cfg).model_validate({**cfg.model_dump(), **sections})


def train(cfg: PipelineConfig, ctx: RunContext, batch: dict, validation: dict) -> dict:
    """Train a challenger on a training batch, evaluate it, the baseline and the champion on the same
    holdout, and register it with its artifacts and lineage (model card included).

    A batch from :func:`snapshot_batch` is retrained with the config of the version it reproduces.

    Returns:
        ``{"model_name", "version", "metric", "challenger_metric", "champion_version",
        "champion_metric", "artifact_uri", "metrics", "reproduces"}``.
    """
    import sklearn

    from pipeline.models import registry
    from pipeline.models.evaluate import baseline_metrics, classification_metrics, permutation_importance_frame
    from pipeline.models.train import TimeSplit, predict_proba, split_by_time, train_model
    from pipeline.visualization.model_card import model_card_html

    store = open_store(cfg.artifacts)
    warehouse = init_warehouse(cfg)
    if batch.get("reproduces"):
        cfg = config_of_version(cfg, registry.get_version(warehouse, cfg.model.name, batch["reproduces"]))
    ds = cfg.dataset
    data, frame = _load_batch(store, batch)
    split = TimeSplit.from_dict(batch["split"])
    train_df, holdout = split_by_time(frame, split, ds)
    y_train, y_holdout = train_df[ds.label].to_numpy(), holdout[ds.label].to_numpy()
    model = train_model(train_df, cfg.model, ds)
    probability = predict_proba(model, holdout, ds)
    metrics = classification_metrics(y_holdout, probability)
    baseline = baseline_metrics(y_train, y_holdout)
    current = registry.champion(warehouse, cfg.model.name)
    champion = None
    if current is not None:
        champion_probability = predict_proba(registry.load_model(store, current), holdout, ds)
        champion = {"version": current["version"], "metrics": classification_metrics(y_holdout, champion_probability)}
    metric = cfg.promotion.metric
    log.info(
        "holdout %s: challenger %.4f, baseline %.4f, champion %s",
        metric,
        metrics[metric],
        baseline[metric],
        None if champion is None else f"v{champion['version']} {champion['metrics'][metric]:.4f}",
    )

    model_bytes, model_sha = registry.serialize_model(model)
    new = registry.NewVersion(
        model_name=cfg.model.name,
        metrics=metrics,
        baseline_metrics=baseline,
        params={"estimator": cfg.model.estimator, "params": cfg.model.params, "random_seed": cfg.model.random_seed},
        train_start=split.train_start,
        train_end=split.holdout_start,
        holdout_start=split.holdout_start,
        holdout_end=split.holdout_end,
        train_rows=len(train_df),
        holdout_rows=len(holdout),
        training_data_sha256=batch["sha256"],
        config=cfg.model_dump(mode="json", exclude={"warehouse", "artifacts"}),
        code_version=code_version(),
        sklearn_version=sklearn.__version__,
        python_version=platform.python_version(),
        dag_id=ctx.dag_id,
        run_id=ctx.run_id,
        dag_version=ctx.dag_version,
        reproduces_version=batch.get("reproduces"),
    )
    importance = permutation_importance_frame(model, holdout, ds.features, ds.label, cfg.model.random_seed)
    feature_schema = {
        "key": ds.key,
        "timestamp": ds.timestamp,
        "label": ds.label,
        "numeric_features": ds.numeric_features,
        "categorical_features": ds.categorical_features,
        "dtypes": {c: str(t) for c, t in frame.dtypes.items()},
    }

    def artifacts(version: int) -> dict[str, bytes]:
        card = {
            **new.__dict__,
            "version": version,
            "estimator": cfg.model.estimator,
            "actor": ctx.actor,
            "baseline": baseline,
            "champion": champion,
            "validation": validation,
        }
        return {
            "metrics.json": _json(
                {
                    "metric": metric,
                    "challenger": metrics,
                    "baseline": baseline,
                    "champion": champion,
                    "permutation_importance": importance.to_dict(orient="records"),
                }
            ),
            "params.json": _json(
                {
                    **new.params,
                    "config": new.config,
                    "sklearn_version": new.sklearn_version,
                    "python_version": new.python_version,
                }
            ),
            "feature_schema.json": _json(feature_schema),
            registry.VALIDATION_FILE: _json(validation),
            registry.TRAINING_DATA_FILE: data,
            "training_data.sha256": f"{batch['sha256']}  {registry.TRAINING_DATA_FILE}\n".encode(),
            "model_card.html": model_card_html(
                card=card, y_holdout=y_holdout, probability=probability, importance=importance
            ),
        }

    record = registry.register(warehouse, store, new, model_bytes, model_sha, artifacts)
    return {
        "model_name": cfg.model.name,
        "version": record["version"],
        "metric": metric,
        "challenger_metric": metrics[metric],
        "artifact_uri": record["artifact_uri"],
        "metrics": metrics,
        "champion_version": None if champion is None else champion["version"],
        "champion_metric": None if champion is None else champion["metrics"][metric],
        "reproduces": batch.get("reproduces"),
    }


def promote(cfg: PipelineConfig, ctx: RunContext, trained: dict, force: bool = False) -> dict:
    """Apply the promotion rule (:func:`pipeline.models.evaluate.promotion_decision`) to a trained
    challenger and record the decision; a promotion is live from the data interval's end.

    Returns:
        ``{"model_name", "version", "decision", "reason", "status"}``.
    """
    from pipeline.models import registry
    from pipeline.models.evaluate import promotion_decision

    metric = trained["metric"]
    if trained.get("reproduces"):
        verdict, reason = (
            "rejected",
            (
                f"reproduction of v{trained['reproduces']} from its snapshot; reproductions "
                "are never promoted (roll back to serve a version again)"
            ),
        )
    else:
        verdict, reason = promotion_decision(
            metric, trained["challenger_metric"], trained["champion_metric"], cfg.promotion.min_improvement, force
        )
    decision = registry.Decision(
        verdict,
        reason,
        metric,
        trained["challenger_metric"],
        trained["champion_metric"],
        trained["champion_version"],
        ctx.end,
        ctx.actor,
    )
    row = registry.decide(init_warehouse(cfg), trained["model_name"], trained["version"], decision)
    return {
        "model_name": row["model_name"],
        "version": row["version"],
        "decision": row["decision"],
        "reason": row["decision_reason"],
        "status": row["status"],
    }


def rollback(
    cfg: PipelineConfig, model_name: str, version: int, valid_from: dt.datetime, actor: str, detail: str
) -> dict:
    """Make an earlier valid version champion again (see :func:`pipeline.models.registry.rollback`).

    Returns:
        ``{"model_name", "version", "status"}``.

    Raises:
        RegistryError: ``model_name`` is not the configured model, or the version is unknown or invalid.
        ArtifactIntegrityError, ArtifactError: its model artifact is altered or missing.
    """
    from pipeline.models import registry

    if model_name != cfg.model.name:
        raise registry.RegistryError(f"unknown model {model_name!r}: this pipeline serves {cfg.model.name!r}")
    row = registry.rollback(
        init_warehouse(cfg), open_store(cfg.artifacts), model_name, version, valid_from, actor, detail
    )
    return {"model_name": row["model_name"], "version": row["version"], "status": row["status"]}


def resolve_models(cfg: PipelineConfig) -> dict:
    """The versions this predict run scores with, pinned for the whole run: the champion and the
    shadow challengers configured in ``predictions``.

    Returns:
        ``{"model_name", "champion": version, "shadows": [version, ...]}``.

    Raises:
        NoChampionError: the model has no champion yet (run ``retrain`` first).
        RegistryError: a configured shadow version is unknown or not servable.
    """
    from pipeline.models import registry

    warehouse = init_warehouse(cfg)
    name = cfg.model.name
    record = registry.champion(warehouse, name)
    if record is None:
        raise NoChampionError(f"model {name!r} has no champion: run the retrain DAG first. Nothing was written.")
    shadows = set(cfg.predictions.shadow_versions)
    if cfg.predictions.shadow_latest_candidate:
        latest = warehouse.fetch("ml/registry_latest_candidate", {"model_name": name})
        shadows |= {row["version"] for row in latest}
    shadows.discard(record["version"])
    for version in shadows:
        status = registry.get_version(warehouse, name, version)["status"]
        if status not in ("candidate", "archived"):
            raise registry.RegistryError(f"shadow version {name} v{version} is {status}; it cannot score")
    return {"model_name": name, "champion": record["version"], "shadows": sorted(shadows)}


def plan_scoring(cfg: PipelineConfig, ctx: RunContext) -> dict:
    """Count the interval's entities and split them into hash partitions of about
    ``predictions.rows_per_partition`` rows (at most ``predictions.max_partitions``).

    Returns:
        One ``{"partition": i, "partitions": n, "rows": total}`` per partition, ``i`` in ``0..n-1``
        (Airflow maps a task over this list).
    """
    from pipeline.features.build import count_entities

    rows = count_entities(init_warehouse(cfg), cfg.dataset, ctx.start, ctx.end)
    pc = cfg.predictions
    partitions = max(1, min(pc.max_partitions, math.ceil(rows / pc.rows_per_partition)))
    log.info("%d entities in [%s, %s): %d scoring partition(s)", rows, ctx.start, ctx.end, partitions)
    return [{"partition": i, "partitions": partitions, "rows": rows} for i in range(partitions)]


def score_partition(cfg: PipelineConfig, ctx: RunContext, models: dict, spec: dict) -> dict:
    """Extract, validate and score one hash partition of the interval, and stage its predictions.

    Memory is bounded by the partition (``predictions.rows_per_partition``), not the interval: the
    partition is validated whole, then scored and written in chunks of ``predictions.chunk_rows``
    by every pinned version (champion and shadow challengers). Idempotent per partition.

    Args:
        spec: one item of :func:`plan_scoring`'s list.

    Returns:
        ``{"partition", "rows", "staged"}``.

    Raises:
        ValidationFailedError: the partition's batch fails the scoring suite; nothing is staged.
    """
    from pipeline.features.build import extract_feature_table
    from pipeline.models import predict, registry

    partition, partitions = spec["partition"], spec["partitions"]
    warehouse, store, ds = init_warehouse(cfg), open_store(cfg.artifacts), cfg.dataset
    frame = extract_feature_table(
        warehouse, ds, ctx.start, ctx.end, require_label=False, partition=(partition, partitions)
    )
    name = "scoring" if partitions == 1 else f"scoring-{partition + 1}-of-{partitions}"
    validate_frame(cfg, ctx, frame, "scoring", name, ctx.start, ctx.end)
    versions = [(models["champion"], True)] + [(v, False) for v in models["shadows"]]
    loaded = [
        (registry.load_model(store, registry.get_version(warehouse, models["model_name"], v)), v, live)
        for v, live in versions
    ]
    step = cfg.predictions.chunk_rows
    predict.ensure_table(warehouse, cfg.predictions, ds.key, predict.key_type(frame, ds.key))

    def chunks():
        for first in range(0, len(frame), step):
            part = frame.iloc[first : first + step]
            for model, version, live in loaded:
                scored = predict.score(model, part, ds, cfg.model.decision_threshold)
                yield scored.assign(model_version=version, is_champion=live)

    staged = predict.stage_partition(
        warehouse,
        cfg.predictions,
        ds.key,
        chunks(),
        model_name=models["model_name"],
        start=ctx.start,
        end=ctx.end,
        run_id=ctx.run_id,
        partition=partition,
    )
    log.info("partition %d/%d: %d entities, %d predictions staged", partition + 1, partitions, len(frame), staged)
    return {"partition": partition, "rows": len(frame), "staged": staged}


def publish(cfg: PipelineConfig, ctx: RunContext, models: dict, plan: list[dict]) -> dict:
    """Publish every staged partition as the interval's predictions, atomically
    (:func:`pipeline.models.predict.publish`).

    Returns:
        ``{"table", "rows", "model_name", "version", "shadows", "partitions", "start", "end"}``;
        ``rows`` counts every version's predictions.
    """
    from pipeline.models import predict

    rows = predict.publish(
        init_warehouse(cfg),
        cfg.predictions,
        cfg.dataset.key,
        model_name=models["model_name"],
        start=ctx.start,
        end=ctx.end,
        run_id=ctx.run_id,
        partitions=len(plan),
    )
    return {
        "table": cfg.predictions.table,
        "rows": rows,
        "model_name": models["model_name"],
        "version": models["champion"],
        "shadows": models["shadows"],
        "partitions": len(plan),
        "start": ctx.start.isoformat(),
        "end": ctx.end.isoformat(),
    }


def with_window_days(cfg: PipelineConfig, window_days: int | None) -> PipelineConfig:
    """``cfg`` with ``training.window_days`` replaced (a manual run's override), re-validated."""
    if window_days is None or window_days == cfg.training.window_days:
        return cfg
    training = type(cfg.training).model_validate({**cfg.training.model_dump(), "window_days": window_days})
    return cfg.model_copy(update={"training": training})


def retrain(cfg: PipelineConfig, ctx: RunContext, force: bool = False, from_version: int | None = None) -> dict:
    """The whole retrain DAG in one call (CLI): extract (or reuse a version's snapshot), validate,
    train, promote."""
    batch = snapshot_batch(cfg, ctx, from_version) if from_version else extract(cfg, ctx)
    trained = train(cfg, ctx, batch, validate(cfg, ctx, batch))
    return {**trained, **promote(cfg, ctx, trained, force)}


def predict(cfg: PipelineConfig, ctx: RunContext) -> dict:
    """The whole predict DAG in one call (CLI): resolve the models, plan the partitions, score them
    one after another, publish."""
    models = resolve_models(cfg)
    plan = plan_scoring(cfg, ctx)
    for spec in plan:
        score_partition(cfg, ctx, models, spec)
    return publish(cfg, ctx, models, plan)


def monitor(cfg: PipelineConfig, ctx: RunContext) -> dict:
    """Measure drift and realized performance over the window that ends at the data interval's end,
    decide whether to ask for a retrain, and store it all (idempotent per interval).

    - Feature drift: the last ``monitoring.window_days`` of the feature table against the
      champion's training rows (from its stored snapshot), per feature and metric.
    - Prediction drift: the champion's scores on the window against its scores on its holdout.
    - Realized performance: the predictions actually made for intervals in the window, joined to the
      labels known now, per day and model version.
    - Decision: :func:`pipeline.monitoring.trigger.decide_retrain` with the cooldown counted from the
      last requested retrain in ``ml.retrain_triggers``.

    Results replace the interval's rows in ``ml.feature_drift``, ``ml.model_performance`` and
    ``ml.retrain_triggers`` in one transaction.

    Returns:
        ``{"retrain", "suppressed", "reasons", "as_of", "champion_version", "window_rows",
        "drifted_features"}``.

    Raises:
        NoChampionError: nothing to monitor yet.
    """
    import pandas as pd
    from psycopg2 import sql
    from psycopg2.extras import Json

    from pipeline.data.warehouse import fetch, read_frame, statement, write_frame
    from pipeline.features.build import extract_feature_table, from_parquet
    from pipeline.models import predict, registry
    from pipeline.models.train import TimeSplit, predict_proba, split_by_time
    from pipeline.monitoring.drift import feature_drift, prediction_drift
    from pipeline.monitoring.performance import performance_metrics, realized_performance, to_long
    from pipeline.monitoring.trigger import decide_retrain

    mon, ds, name = cfg.monitoring, cfg.dataset, cfg.model.name
    warehouse, store = init_warehouse(cfg), open_store(cfg.artifacts)
    champion = resolve_models(cfg)["champion"]
    record = registry.get_version(warehouse, name, champion)
    model = registry.load_model(store, record)
    reference = from_parquet(registry.load_training_snapshot(store, record))
    split = TimeSplit(record["train_start"], record["holdout_start"], record["holdout_end"])
    reference_train, reference_holdout = split_by_time(reference, split, ds)
    window_start = ctx.end - dt.timedelta(days=mon.window_days)
    current = extract_feature_table(warehouse, ds, window_start, ctx.end, require_label=False)
    result = {
        "retrain": False,
        "suppressed": False,
        "reasons": [],
        "as_of": ctx.end.isoformat(),
        "champion_version": champion,
        "window_rows": len(current),
        "drifted_features": [],
    }
    if current.empty:
        log.warning("no %s rows in [%s, %s): nothing to monitor", ds.name, window_start, ctx.end)
        return {**result, "reasons": ["no data in the window"]}

    drift = feature_drift(reference_train, current, ds.numeric_features, ds.categorical_features, mon.thresholds)
    score_drift = prediction_drift(
        predict_proba(model, reference_holdout, ds), predict_proba(model, current, ds), mon.thresholds
    ).assign(kind="prediction")
    predict.ensure_table(warehouse, cfg.predictions, ds.key, predict.key_type(current, ds.key))
    window = {"model_name": name, "start": window_start, "end": ctx.end}
    with warehouse.transaction() as cur:
        made = read_frame(
            cur, statement("ml/predictions_in_window", table=cfg.predictions.table, key=sql.Identifier(ds.key)), window
        )
        last = fetch(cur, "ml/monitor_last_trigger", {"model_name": name, "end": ctx.end})[0]["last_trigger"]
    performance, realized_auc = pd.DataFrame(), None
    if ds.label in current.columns:
        labelled = made.merge(current[[ds.key, ds.timestamp, ds.label]], on=ds.key)
        labelled = labelled[labelled[ds.label].notna()]
        if len(labelled):
            labelled = labelled.assign(day=labelled[ds.timestamp].dt.date, **{ds.label: labelled[ds.label].astype(int)})
            performance = to_long(
                realized_performance(labelled, ds.label, by=["day", "model_version"]), ["day", "model_version"]
            )
            live = labelled[labelled["is_champion"]]
            if live[ds.label].nunique() == 2:
                realized_auc = performance_metrics(live[ds.label], live["score"])["roc_auc"]
    decision = decide_retrain(drift, score_drift, realized_auc, mon, mon.features or ds.features, last, ctx.end)

    ids = {"model_name": name, "data_interval_start": ctx.start, "data_interval_end": ctx.end, "run_id": ctx.run_id}
    drift_rows = pd.concat([drift, score_drift], ignore_index=True).assign(
        model_version=champion, window_start=window_start, **ids
    )
    with warehouse.transaction() as cur:
        cur.execute(statement("ml/monitor_clear"), {"model_name": name, "start": ctx.start, "end": ctx.end})
        write_frame(cur, drift_rows, "ml.feature_drift")
        if len(performance):
            write_frame(cur, performance.assign(**ids), "ml.model_performance")
        fetch(
            cur,
            "ml/monitor_trigger_insert",
            {
                "model_name": name,
                "start": ctx.start,
                "end": ctx.end,
                "champion_version": champion,
                "retrain": decision.retrain,
                "suppressed": decision.suppressed,
                "reasons": Json(decision.reasons),
                "run_id": ctx.run_id,
            },
        )
    drifted = sorted(drift.loc[(drift["metric"] == "psi") & drift["drifted"], "feature"])
    log.info(
        "monitor %s v%d [%s, %s): %d rows, %d features drifted (PSI), realized ROC AUC %s -> %s %s",
        name,
        champion,
        window_start,
        ctx.end,
        len(current),
        len(drifted),
        realized_auc,
        "RETRAIN" if decision.retrain else ("suppressed by cooldown" if decision.suppressed else "no retrain"),
        decision.reasons,
    )
    return {
        **result,
        "retrain": decision.retrain,
        "suppressed": decision.suppressed,
        "reasons": decision.reasons,
        "drifted_features": drifted,
        "realized_roc_auc": realized_auc,
    }


def _v(version: int | None) -> str:
    return "none" if version is None else f"v{version}"


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
    history = warehouse.fetch("ml/champion_history_list", {"model_name": cfg.model.name})
    lines.append("champion history (valid_from is logical time):")
    for h in history:
        lines.append(
            f"  {h['valid_from']:%Y-%m-%d %H:%M} {_v(h['old_version'])} -> {_v(h['new_version'])} "
            f"{h['reason']:<8} by {h['actor']}: {h['detail']}"
        )
    predict.ensure_table(warehouse, cfg.predictions, cfg.dataset.key, "bigint")
    p = warehouse.fetch("ml/predictions_summary", table=cfg.predictions.table)[0]
    lines.append(f"predictions: {p['row_count']} rows in {p['intervals']} interval(s) in {cfg.predictions.table}")
    for t in warehouse.fetch("ml/monitor_latest", {"model_name": cfg.model.name}):
        verdict = (
            "retrain requested" if t["retrain"] else ("suppressed by cooldown" if t["suppressed"] else "no retrain")
        )
        lines.append(
            f"monitor, window ending {t['data_interval_end']:%Y-%m-%d}: v{t['champion_version']}, "
            f"{t['drifted']} of {t['features']} features drifted (PSI), realized ROC AUC "
            f"{'n/a' if t['roc_auc'] is None else format(t['roc_auc'], '.3f')}: {verdict} {t['reasons'] or ''}"
        )
    lines += [
        "",
        "Read them with SQL (make sql):",
        f"  SELECT * FROM {cfg.predictions.table}_latest ORDER BY score DESC LIMIT 10;",
        f"  SELECT version, status, decision, metrics->>'roc_auc' AS roc_auc FROM ml.model_versions "
        f"WHERE model_name = '{cfg.model.name}';",
        f"  SELECT * FROM {cfg.predictions.table}_shadow_comparison ORDER BY data_interval_start;",
        f"  SELECT * FROM ml.champion_periods WHERE model_name = '{cfg.model.name}' ORDER BY valid_from;",
    ]
    return "\n".join(lines)
