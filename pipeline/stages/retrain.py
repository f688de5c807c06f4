"""The retrain DAG's stages: extract (or reuse a version's snapshot) -> validate -> train -> promote."""

from __future__ import annotations

import datetime as dt
import json
import logging
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from pipeline.config import PROJECT_ROOT, DatasetConfig, PipelineConfig
from pipeline.stages.runtime import Runtime, sha256, to_json

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from pipeline.models import registry
    from pipeline.models.train import TimeSplit

log = logging.getLogger(__name__)


class Split(TypedDict):
    """A :class:`~pipeline.models.train.TimeSplit` as ISO strings."""

    train_start: str
    holdout_start: str
    holdout_end: str


class Batch(TypedDict):
    """A training batch stored as Parquet in the artifact store (times as ISO strings)."""

    kind: str
    key: str
    uri: str
    rows: int
    sha256: str
    start: str
    end: str
    split: Split
    reproduces: int | None


class Validation(TypedDict):
    """:meth:`ValidationReport.summary` plus where the full result is stored."""

    suite_name: str
    batch_name: str
    success: bool
    evaluated: int
    failed_count: int
    failed: list[dict]
    artifact_uri: str


class Trained(TypedDict):
    """A registered challenger and its holdout comparison with the champion and the baseline.

    ``champion_metric`` is None when there is no champion, or when its artifact could not be loaded:
    then ``champion_problem`` says why, and the challenger is judged against the baseline only.
    ``gate`` is the promotion gate's decision against the champion on the holdout rows
    (:meth:`pipeline.models.promotion.GateDecision.to_dict`), None without a champion, or when the
    holdout overlaps the champion's training window (``champion_problem`` says so).
    ``newer_champion``: why the champion is newer than this challenger (:func:`_fair_comparison`), None
    otherwise; ``holdout_warning``: too little of the holdout labelled at the cutoff, None otherwise.
    """

    model_name: str
    version: int
    metric: str
    challenger_metric: float
    metrics: dict[str, float]
    champion_version: int | None
    champion_metric: float | None
    champion_problem: str | None
    baseline_metric: float
    artifact_uri: str
    reproduces: int | None
    gate: dict | None
    newer_champion: str | None
    holdout_warning: str | None


class Promotion(TypedDict):
    """The promotion decision recorded for a challenger, its holdout ``metrics``, and whether it
    ``changed`` the champion (it is champion now)."""

    model_name: str
    version: int
    decision: str
    reason: str
    status: str
    changed: bool
    metrics: dict


def extract(rt: Runtime) -> Batch:
    """Extract the training window and holdout that end at the data interval's end, and store them
    as the run's Parquet training batch (``runs/<dag>/<run>/training.parquet``).

    Raises:
        FeatureTableError, WarehouseError: the feature query failed or returned a malformed table.
        EmptyIntervalError: the training window or the holdout has no labelled rows: "nothing to
            train on" (skipped or failed as ``schedule.on_empty`` says); nothing is stored.
    """
    from pipeline.features.build import extract_feature_table, to_parquet
    from pipeline.models.train import TimeSplit, known_labels

    ds = rt.cfg.dataset
    split = TimeSplit.ending_at(rt.ctx.end, rt.cfg.training)
    frame = extract_feature_table(rt.warehouse, ds, rt.cfg.cutoff_rule, split.train_start, split.holdout_end, True)
    known = known_labels(frame, ds, split.holdout_end)
    labelled = known.loc[known[ds.label].notna(), ds.timestamp]
    train_rows = int((labelled < split.holdout_start).sum())
    holdout_rows = len(labelled) - train_rows
    if not train_rows or not holdout_rows:
        rt.nothing_to_do(
            f"{train_rows} labelled {ds.name} rows in the training window [{split.train_start}, "
            f"{split.holdout_start}) and {holdout_rows} in the holdout [{split.holdout_start}, "
            f"{split.holdout_end}): nothing to train on"
        )
    log.info(
        "%s: %d rows, %d labelled for training, %d for the holdout",
        rt.ctx.describe(
            training_window=(split.train_start, split.holdout_start), holdout=(split.holdout_start, split.holdout_end)
        ),
        len(frame),
        train_rows,
        holdout_rows,
    )
    data, digest = to_parquet(frame)
    return _stored_batch(rt, data, digest, len(frame), split.to_dict(), None)


def snapshot(rt: Runtime, version: int) -> Batch:
    """A training batch made from a registered version's stored snapshot, for reproducible retraining:
    the same rows, the same split, and (in :func:`train`) the same config as that version.

    Raises:
        RegistryError: unknown version, or one that is ``pending`` or ``failed`` (never registered whole).
        ArtifactIntegrityError: the snapshot's SHA-256 differs from the registered one.
    """
    from pipeline.models import registry

    record = registry.get_version(rt.warehouse, rt.cfg.model.name, version)
    if record["status"] in ("pending", "failed"):
        why = f" ({record['decision_reason']})" if record["decision_reason"] else ""
        raise registry.RegistryError(
            f"{rt.cfg.model.name} v{version} is {record['status']}{why}: only a registered version (candidate, "
            "champion or archived) can be reproduced from its snapshot"
        )
    data = registry.load_training_snapshot(rt.store, record)
    split = {k: record[k].isoformat() for k in ("train_start", "holdout_start", "holdout_end")}
    return _stored_batch(
        rt, data, record["training_data_sha256"], record["train_rows"] + record["holdout_rows"], split, version
    )


def _stored_batch(rt: Runtime, data: bytes, digest: str, rows: int, split: Split, reproduces: int | None) -> Batch:
    key = rt.ctx.key("training.parquet")
    uri = rt.store.put(key, data, overwrite=True)
    start, end = split["train_start"], split["holdout_end"]
    return Batch(
        kind="training",
        key=key,
        uri=uri,
        rows=rows,
        sha256=digest,
        start=start,
        end=end,
        split=split,
        reproduces=reproduces,
    )


def load_batch(rt: Runtime, batch: Batch):
    """The stored batch's bytes and frame, checked against the SHA-256 taken at extraction.

    Raises:
        ValueError: the stored batch changed since extraction.
    """
    from pipeline.features.build import from_parquet

    data = rt.store.get(batch["key"])
    if sha256(data) != batch["sha256"]:
        raise ValueError(f"batch {rt.store.uri(batch['key'])} changed since extraction (SHA-256 mismatch)")
    return data, from_parquet(data)


def validate(rt: Runtime, batch: Batch) -> Validation:
    """Validate a stored training batch against the training suite (:meth:`Runtime.validate`).

    Raises:
        ValidationFailedError: naming every failed expectation; the result is stored first.
    """
    _, frame = load_batch(rt, batch)
    return rt.validate(frame, "training", "training", batch["start"], batch["end"])


def config_of_version(cfg: PipelineConfig, record: dict) -> PipelineConfig:
    """``cfg`` with the dataset, model, training and promotion sections a version was trained with
    (where to find the warehouse and artifacts still comes from ``cfg``)."""
    stored = record["config"]
    sections = {k: stored[k] for k in ("task", "dataset", "model", "training", "promotion") if k in stored}
    return type(cfg).model_validate({**cfg.model_dump(), **sections})


# The folders whose contents decide what a trained model is: a change in any of them, committed or
# not, tracked or not, must show in the version's code_version.
LINEAGE_PATHS = ("config", "sql", "expectations", "pipeline", "dags")


def code_version(root: Path = PROJECT_ROOT) -> str:
    """The git commit of the checkout at ``root`` (40 hex digits), with ``-dirty`` when a tracked or
    untracked file under :data:`LINEAGE_PATHS` differs from it (ignored files, such as caches, do not
    count); or ``unknown`` outside a git checkout."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return "unknown"
    changes = git("status", "--porcelain", "--untracked-files=all", "--", *LINEAGE_PATHS)
    return commit.strip() + ("-dirty" if changes is None or changes.strip() else "")


def lineage(cfg: PipelineConfig) -> dict:
    """What a version was made from, beside its training data: the feature query's text as run and
    its SHA-256, each expectation suite's file, SHA-256 and JSON, and the SHA-256 of the model's
    config (its sections as validated, key-sorted JSON)."""
    from pipeline.features.build import feature_sql

    query = feature_sql(cfg.dataset)
    suites = {}
    for kind in ("training", "scoring"):
        path = cfg.validation.suite_path(kind)
        data = path.read_bytes()
        suites[kind] = {"file": path.name, "sha256": sha256(data), "suite": json.loads(data)}
    return {
        "feature_sql": query,
        "feature_sql_sha256": sha256(query.encode()),
        "expectation_suites": suites,
        "config_sha256": sha256(to_json(model_config(cfg))),
    }


def model_config(cfg: PipelineConfig) -> dict:
    """The model's own config as JSON-able data: its file's sections, none of the shared ones (which
    hold credentials) and not the file's path."""
    from pipeline.config import ModelFile

    return cfg.model_dump(mode="json", exclude=PipelineConfig.model_fields.keys() - ModelFile.model_fields.keys())


def train(rt: Runtime, batch: Batch, validation: Validation) -> Trained:
    """Train a challenger on a training batch, evaluate it, the baseline and the champion on the same
    holdout, and register it with its artifacts and lineage (model card included).

    A batch from :func:`snapshot` is retrained with the config of the version it reproduces.

    Before any training, two checks fail fast: the artifact store must take a new version
    (:func:`pipeline.models.registry.check_writable`; nothing is reserved otherwise), and the champion's
    artifact must load with its registered SHA-256. A champion that does not load does not stop the
    retrain: the error names the fix (roll back to a valid version), and the challenger is compared
    with the baseline only (``champion_problem`` records why).

    Labels count only when observed by the run's cutoff (the holdout's end;
    :func:`pipeline.models.train.known_labels`): the holdout ends at the cutoff, and the version's
    ``metrics`` record ``holdout_rows_not_yet_labelled``, the holdout rows left out for that.

    Raises:
        TrainingDataError: the training window or holdout has no labelled rows.
        ArtifactError: the store cannot be written; nothing was trained or reserved.
        RegistryError, ArtifactError: registering or storing the version failed (it is then ``failed``).
    """
    from pipeline.models import registry

    cfg = _training_config(rt, batch)
    registry.check_writable(rt.store, cfg.model.name)
    incumbent = _load_champion(rt, cfg)
    data, frame = load_batch(rt, batch)
    rows = _split(cfg, batch, frame)
    incumbent, newer_champion = _fair_comparison(incumbent, rows.split)
    evaluation = _evaluate(cfg, rows, incumbent)
    model_bytes, model_sha = registry.serialize_model(evaluation.model)
    new = _new_version(rt, cfg, batch, rows, evaluation)
    files = _artifacts(rt, cfg, new, rows, evaluation, validation, data, frame)
    record = registry.register(rt.warehouse, rt.store, new, model_bytes, model_sha, files)
    log.info("model card: %s", registry.model_card_uri(record["artifact_uri"]))
    return Trained(
        model_name=cfg.model.name,
        version=record["version"],
        metric=cfg.promotion_metric,
        challenger_metric=evaluation.metrics[cfg.promotion_metric],
        metrics=evaluation.metrics,
        champion_version=None if incumbent.record is None else incumbent.record["version"],
        champion_metric=None if evaluation.champion is None else evaluation.champion["metrics"][cfg.promotion_metric],
        champion_problem=incumbent.problem,
        baseline_metric=evaluation.baseline[cfg.promotion_metric],
        artifact_uri=record["artifact_uri"],
        reproduces=batch["reproduces"],
        gate=evaluation.gate,
        newer_champion=newer_champion,
        holdout_warning=_labelled_share_warning(cfg, rows),
    )


@dataclass(frozen=True)
class Incumbent:
    """The champion a challenger is compared with: its registry row (None: no champion yet), its
    model (None: none, or its artifact cannot be loaded) and, when it cannot be loaded, why."""

    record: dict | None
    model: Pipeline | None
    problem: str | None


@dataclass(frozen=True)
class HoldoutRows:
    """A training batch cut at its split, labels known by the cutoff only
    (:func:`pipeline.models.train.split_by_time`). ``y_train``, ``y_holdout``: shape (rows,), the
    labels (0/1, or the label's units); ``not_yet_labelled``: holdout rows left out because their
    label was observed only after the cutoff; ``labelled_share``: the share of the batch's rows
    stamped in the holdout whose label is known at the cutoff (0 to 1)."""

    split: TimeSplit
    train: pd.DataFrame
    holdout: pd.DataFrame
    y_train: np.ndarray
    y_holdout: np.ndarray
    not_yet_labelled: int
    labelled_share: float


@dataclass(frozen=True)
class Evaluation:
    """The fitted challenger and its evidence on the holdout rows: ``probability`` shape
    (holdout rows,), float64, the probability of class 1 or the predicted value; ``metrics`` and
    ``baseline`` (:func:`pipeline.models.evaluate.holdout_metrics`, the challenger's with
    ``holdout_rows_not_yet_labelled``); ``champion`` None or ``{"version", "metrics"}``; ``gate`` the
    promotion gate's decision (:meth:`pipeline.models.promotion.GateDecision.to_dict`), None
    without a usable champion."""

    model: Pipeline
    probability: np.ndarray
    metrics: dict[str, float]
    baseline: dict[str, float]
    champion: dict | None
    gate: dict | None


def _training_config(rt: Runtime, batch: Batch) -> PipelineConfig:
    """The run's config, or for a reproduction (:func:`snapshot`) the reproduced version's
    (:func:`config_of_version`).

    Raises:
        RegistryError: the reproduced version is unknown.
    """
    from pipeline.models import registry

    if not batch["reproduces"]:
        return rt.cfg
    return config_of_version(rt.cfg, registry.get_version(rt.warehouse, rt.cfg.model.name, batch["reproduces"]))


def _load_champion(rt: Runtime, cfg: PipelineConfig) -> Incumbent:
    """The current champion and its model. An artifact that fails to load (a SHA-256 mismatch, a
    missing file) does not raise: it is logged as an error naming the fix, and returned as ``problem``."""
    from pipeline.data.artifacts import ArtifactError
    from pipeline.models import registry

    current = registry.champion(rt.warehouse, cfg.model.name)
    if current is None:
        return Incumbent(None, None, None)
    try:
        return Incumbent(current, registry.load_model(rt.store, current), None)
    except (registry.ArtifactIntegrityError, ArtifactError) as exc:
        problem = f"champion v{current['version']} cannot be loaded ({exc})"
        log.error(
            "%s; fix: roll back to a valid version (`pipeline rollback --model %s --version N`, or the "
            "rollback__%s DAG). This retrain goes on and compares the challenger with the baseline only.",
            problem,
            cfg.model.name,
            cfg.model.name,
        )
        return Incumbent(current, None, problem)


def _fair_comparison(incumbent: Incumbent, split: TimeSplit) -> tuple[Incumbent, str | None]:
    """The champion to compare the challenger with, and why the champion is newer (None when it is not).

    The champion is newer when this retrain's cutoff (``split.holdout_end``) is earlier than the
    champion's holdout end: a retrain of a past interval (``pipeline retrain --end``, a backfill). At the
    same cutoff both have the same holdout and neither is fresher: the gate decides, as usual. A
    holdout that overlaps the champion's training window ``[train_start, train_end)`` would score the
    champion on rows it learned from: the champion is then not compared at all (returned without its
    model, ``problem`` saying why), and the challenger is judged against the baseline only.
    """
    record = incumbent.record
    if record is None:
        return incumbent, None
    version, newer = record["version"], None
    if split.holdout_end < record["holdout_end"]:
        newer = (
            f"champion v{version} is newer: its holdout ends at {_utc(record['holdout_end'])}, this retrain's "
            f"cutoff is {_utc(split.holdout_end)} (UTC)"
        )
        log.warning("%s", newer)
    if split.holdout_start < record["train_end"] and record["train_start"] < split.holdout_end:
        overlap = (
            f"not compared with champion v{version}: this holdout [{_utc(split.holdout_start)}, "
            f"{_utc(split.holdout_end)}) overlaps its training window [{_utc(record['train_start'])}, "
            f"{_utc(record['train_end'])}) (UTC)"
        )
        log.warning("%s", overlap)
        return Incumbent(record, None, "; ".join(filter(None, [incumbent.problem, overlap]))), newer
    return incumbent, newer


def _utc(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def _split(cfg: PipelineConfig, batch: Batch, frame: pd.DataFrame) -> HoldoutRows:
    """The batch's training and holdout rows at its split, logged with their counts.

    Raises:
        TrainingDataError: the training window or the holdout has no labelled rows.
    """
    from pipeline.models.train import TimeSplit, split_by_time

    ds = cfg.dataset
    split = TimeSplit.from_dict(batch["split"])
    train_df, holdout = split_by_time(frame, split, ds, cfg.task)
    in_holdout = frame[ds.timestamp] >= split.holdout_start
    # Holdout rows with a label in the table that was observed only after the cutoff: unlabelled.
    not_yet_labelled = int((in_holdout & frame[ds.label].notna()).sum()) - len(holdout)
    share = len(holdout) / max(1, int(in_holdout.sum()))
    log.info(
        "training %s on %d rows, holdout %d rows (%d more holdout rows not labelled by the cutoff %s)",
        cfg.model.estimator,
        len(train_df),
        len(holdout),
        not_yet_labelled,
        split.holdout_end,
    )
    y_train, y_holdout = train_df[ds.label].to_numpy(), holdout[ds.label].to_numpy()
    return HoldoutRows(split, train_df, holdout, y_train, y_holdout, not_yet_labelled, share)


def _labelled_share_warning(cfg: PipelineConfig, rows: HoldoutRows) -> str | None:
    """A warning (logged) when less than ``training.min_labelled_share`` of the holdout is labelled at
    the cutoff, else None."""
    if rows.labelled_share >= cfg.training.min_labelled_share:
        return None
    warning = (
        f"only {rows.labelled_share:.0%} of the holdout's rows were labelled at the cutoff "
        f"{_utc(rows.split.holdout_end)} UTC (training.min_labelled_share {cfg.training.min_labelled_share:.0%}): "
        "its metrics rest on the rows labelled soonest"
    )
    log.warning("%s: %s", cfg.model.name, warning)
    return warning


def _evaluate(cfg: PipelineConfig, rows: HoldoutRows, incumbent: Incumbent) -> Evaluation:
    """Fit the challenger on the training rows and score it, the baseline and the champion on the
    holdout rows, with the promotion gate's verdict against the champion; the scores are logged.

    Raises:
        EvaluationError: the holdout has a single class or a constant label.
    """
    from pipeline.models.evaluate import baseline_metrics, holdout_metrics
    from pipeline.models.predict import predict
    from pipeline.models.train import train_model

    ds, task, metric = cfg.dataset, cfg.task, cfg.promotion_metric
    model = train_model(rows.train, cfg.model, ds)
    probability = predict(model, rows.holdout, ds, task)
    metrics = holdout_metrics(task, rows.y_holdout, probability)
    metrics |= {"holdout_rows_not_yet_labelled": rows.not_yet_labelled, "holdout_labelled_share": rows.labelled_share}
    baseline = baseline_metrics(task, rows.y_train, rows.y_holdout)
    champion, gate = _against_champion(cfg, rows, incumbent, probability)
    log.info(
        "holdout %s: challenger %.4f, baseline %.4f, champion %s",
        metric,
        metrics[metric],
        baseline[metric],
        None if champion is None else f"v{champion['version']} {champion['metrics'][metric]:.4f}",
    )
    return Evaluation(model, probability, metrics, baseline, champion, gate)


def _against_champion(
    cfg: PipelineConfig, rows: HoldoutRows, incumbent: Incumbent, probability: np.ndarray
) -> tuple[dict | None, dict | None]:
    """The champion's holdout metrics (``{"version", "metrics"}``) and the promotion gate's decision
    against it (:func:`pipeline.models.promotion.decide_promotion`, logged); both None without a
    usable champion."""
    from pipeline.models.evaluate import holdout_metrics
    from pipeline.models.predict import predict
    from pipeline.models.promotion import decide_promotion

    if incumbent.model is None:
        return None, None
    task, version = cfg.task, incumbent.record["version"]
    champion_probability = predict(incumbent.model, rows.holdout, cfg.dataset, task)
    champion = {"version": version, "metrics": holdout_metrics(task, rows.y_holdout, champion_probability)}
    gate = decide_promotion(
        cfg.promotion, task, rows.y_holdout, probability, champion_probability, seed=cfg.model.random_seed
    ).to_dict()
    verdict = "promote" if gate["promote"] else "refuse"
    log.info("promotion gate (%s) against champion v%d: %s; %s", gate["rule"], version, verdict, gate["reason"])
    return champion, gate


def _new_version(
    rt: Runtime, cfg: PipelineConfig, batch: Batch, rows: HoldoutRows, evaluation: Evaluation
) -> registry.NewVersion:
    """The challenger's registry row, not yet registered: its metrics, split, row counts, config,
    code, library versions, run and lineage (:func:`code_version`, :func:`lineage`)."""
    import sklearn

    from pipeline.models import registry

    split = rows.split
    return registry.NewVersion(
        model_name=cfg.model.name,
        metrics=evaluation.metrics,
        baseline_metrics=evaluation.baseline,
        params={"estimator": cfg.model.estimator, "params": cfg.model.params, "random_seed": cfg.model.random_seed},
        train_start=split.train_start,
        train_end=split.holdout_start,
        holdout_start=split.holdout_start,
        holdout_end=split.holdout_end,
        train_rows=len(rows.train),
        holdout_rows=len(rows.holdout),
        training_data_sha256=batch["sha256"],
        config=model_config(cfg),
        code_version=code_version(),
        sklearn_version=sklearn.__version__,
        python_version=platform.python_version(),
        dag_id=rt.ctx.dag_id,
        run_id=rt.ctx.run_id,
        dag_version=rt.ctx.dag_version,
        reproduces_version=batch["reproduces"],
        **lineage(cfg),
    )


def _artifacts(
    rt: Runtime,
    cfg: PipelineConfig,
    new: registry.NewVersion,
    rows: HoldoutRows,
    evaluation: Evaluation,
    validation: Validation,
    data: bytes,
    frame: pd.DataFrame,
) -> Callable[[int], dict[str, bytes]]:
    """What :func:`pipeline.models.registry.register` stores beside the model, given its version
    (file name -> bytes): the evaluation with permutation importance, params, feature schema,
    validation result, training data (``data``, the batch's Parquet bytes) and its SHA-256, and the
    model card."""
    from pipeline.models import registry
    from pipeline.models.evaluate import permutation_importance_frame
    from pipeline.visualization.model_card import model_card_html

    ds, seed = cfg.dataset, cfg.model.random_seed
    importance = permutation_importance_frame(evaluation.model, rows.holdout, ds.features, ds.label, seed, cfg.task)
    files = {
        "metrics.json": to_json(_evaluation_record(cfg.promotion_metric, evaluation, importance)),
        "params.json": to_json(
            {
                **new.params,
                "config": new.config,
                "sklearn_version": new.sklearn_version,
                "python_version": new.python_version,
            }
        ),
        "feature_schema.json": to_json(_feature_schema(ds, frame)),
        registry.VALIDATION_FILE: to_json(validation),
        registry.TRAINING_DATA_FILE: data,
        "training_data.sha256": f"{new.training_data_sha256}  {registry.TRAINING_DATA_FILE}\n".encode(),
    }
    card = {"estimator": cfg.model.estimator, "actor": rt.ctx.actor, "baseline": evaluation.baseline}
    card |= {"champion": evaluation.champion, "gate": evaluation.gate, "validation": validation}

    def with_card(version: int) -> dict[str, bytes]:
        html = model_card_html(
            card={**new.__dict__, "version": version, **card},
            y_holdout=rows.y_holdout,
            probability=evaluation.probability,
            importance=importance,
            task=cfg.task,
        )
        return files | {registry.MODEL_CARD_FILE: html}

    return with_card


def _evaluation_record(metric: str, evaluation: Evaluation, importance: pd.DataFrame) -> dict:
    """The version's ``metrics.json``: the promotion ``metric``'s name, the challenger's, baseline's and
    champion's holdout metrics, the gate's decision and the permutation importance (one record per
    feature: ``feature``, ``mean``, ``std``)."""
    return {
        "metric": metric,
        "challenger": evaluation.metrics,
        "baseline": evaluation.baseline,
        "champion": evaluation.champion,
        "promotion_gate": evaluation.gate,
        "permutation_importance": importance.to_dict(orient="records"),
    }


def _feature_schema(ds: DatasetConfig, frame: pd.DataFrame) -> dict:
    """The version's ``feature_schema.json``: the dataset's key, timestamp, label and feature columns,
    and every column's dtype in the training batch (name -> pandas dtype as a string)."""
    return {
        "key": ds.key,
        "timestamp": ds.timestamp,
        "label": ds.label,
        "numeric_features": ds.numeric_features,
        "categorical_features": ds.categorical_features,
        "dtypes": {c: str(t) for c, t in frame.dtypes.items()},
    }


def promote(rt: Runtime, trained: Trained, force: bool = False) -> Promotion:
    """Record the promotion decision of a trained challenger; a promotion is live from the data
    interval's end. The decision is :func:`pipeline.models.promotion.decide_challenger`'s: a
    reproduction (:func:`snapshot`) is never promoted; against a champion the promotion gate decides
    (``trained["gate"]``, computed by :func:`train` on the holdout rows, recorded with its intervals
    in ``decision_evidence``); without a usable champion the challenger must beat the baseline by
    ``promotion.min_baseline_gain``; a challenger older than the champion (``newer_champion``) stays a
    candidate. ``force`` promotes whatever the gate says (the reason keeps the gate's and says when the
    champion was newer). The reason ends with the holdout's labelled-share warning, if any.

    Raises:
        RegistryError: the version is not an undecided candidate.
    """
    from pipeline.models import registry
    from pipeline.models.promotion import PromotionEvidence, decide_challenger

    evidence = PromotionEvidence(
        metric=trained["metric"],
        challenger=trained["challenger_metric"],
        champion=trained["champion_metric"],
        baseline=trained["baseline_metric"],
        gate=trained.get("gate"),
        champion_problem=trained.get("champion_problem"),
        reproduces=trained["reproduces"],
        newer_champion=trained.get("newer_champion"),
    )
    verdict, reason = decide_challenger(evidence, rt.cfg.promotion, force)
    if trained.get("holdout_warning"):
        reason = f"{reason}; warning: {trained['holdout_warning']}"
    decision = registry.Decision(
        verdict,
        reason,
        evidence.metric,
        evidence.challenger,
        evidence.champion,
        trained["champion_version"],
        rt.ctx.end,
        rt.ctx.actor,
        evidence.gate,
    )
    row = registry.decide(rt.warehouse, trained["model_name"], trained["version"], decision)
    log.info("model card: %s", registry.model_card_uri(row["artifact_uri"]))
    return Promotion(
        model_name=row["model_name"],
        version=row["version"],
        decision=row["decision"],
        reason=row["decision_reason"],
        status=row["status"],
        changed=row["status"] == "champion",
        metrics=row["metrics"],
    )


def run(rt: Runtime, force: bool = False, from_version: int | None = None) -> dict:
    """The whole retrain DAG in one call (CLI): extract (or reuse a version's snapshot), validate,
    train, promote. Returns the promotion merged over the trained challenger's summary."""
    batch = snapshot(rt, from_version) if from_version else extract(rt)
    trained = train(rt, batch, validate(rt, batch))
    return {**trained, **promote(rt, trained, force)}
