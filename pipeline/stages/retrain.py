"""The retrain DAG's stages: extract (or reuse a version's snapshot) -> validate -> train -> promote."""

from __future__ import annotations

import json
import logging
import platform
import subprocess
from pathlib import Path
from typing import TypedDict

from pipeline.config import PROJECT_ROOT, PipelineConfig
from pipeline.stages.runtime import Runtime, sha256, to_json

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
    (:meth:`pipeline.models.promotion.GateDecision.to_dict`), None without a champion.
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


class Promotion(TypedDict):
    """The promotion decision recorded for a challenger."""

    model_name: str
    version: int
    decision: str
    reason: str
    status: str


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

    Labels count only when observed before the run's cutoff (the holdout's end;
    :func:`pipeline.models.train.known_labels`): the holdout ends at the cutoff, and the version's
    ``metrics`` record ``holdout_rows_not_yet_labelled``, the holdout rows left out for that.

    Raises:
        TrainingDataError: the training window or holdout has no labelled rows.
        ArtifactError: the store cannot be written; nothing was trained or reserved.
        RegistryError, ArtifactError: registering or storing the version failed (it is then ``failed``).
    """
    import sklearn

    from pipeline.data.artifacts import ArtifactError
    from pipeline.models import registry
    from pipeline.models.evaluate import baseline_metrics, holdout_metrics, permutation_importance_frame
    from pipeline.models.predict import predict
    from pipeline.models.promotion import decide_promotion
    from pipeline.models.train import TimeSplit, split_by_time, train_model
    from pipeline.visualization.model_card import model_card_html

    cfg = rt.cfg
    if batch["reproduces"]:
        cfg = config_of_version(cfg, registry.get_version(rt.warehouse, cfg.model.name, batch["reproduces"]))
    ds, metric, task = cfg.dataset, cfg.promotion_metric, cfg.task
    registry.check_writable(rt.store, cfg.model.name)
    current = registry.champion(rt.warehouse, cfg.model.name)
    champion_model, champion_problem = None, None
    if current is not None:
        try:
            champion_model = registry.load_model(rt.store, current)
        except (registry.ArtifactIntegrityError, ArtifactError) as exc:
            champion_problem = f"champion v{current['version']} cannot be loaded ({exc})"
            log.error(
                "%s; fix: roll back to a valid version (`pipeline rollback --model %s --version N`, or the "
                "rollback__%s DAG). This retrain goes on and compares the challenger with the baseline only.",
                champion_problem,
                cfg.model.name,
                cfg.model.name,
            )
    data, frame = load_batch(rt, batch)
    split = TimeSplit.from_dict(batch["split"])
    train_df, holdout = split_by_time(frame, split, ds, task)
    y_train, y_holdout = train_df[ds.label].to_numpy(), holdout[ds.label].to_numpy()
    stamps = frame.loc[frame[ds.label].notna(), ds.timestamp]
    # Holdout rows with a label in the table that was observed only at or after the cutoff: unlabelled.
    not_yet_labelled = int((stamps >= split.holdout_start).sum()) - len(holdout)
    log.info(
        "training %s on %d rows, holdout %d rows (%d more holdout rows not labelled before the cutoff %s)",
        cfg.model.estimator,
        len(train_df),
        len(holdout),
        not_yet_labelled,
        split.holdout_end,
    )
    model = train_model(train_df, cfg.model, ds)
    probability = predict(model, holdout, ds, task)
    metrics = holdout_metrics(task, y_holdout, probability) | {"holdout_rows_not_yet_labelled": not_yet_labelled}
    baseline = baseline_metrics(task, y_train, y_holdout)
    champion, gate = None, None
    if champion_model is not None:
        champion_probability = predict(champion_model, holdout, ds, task)
        champion = {"version": current["version"], "metrics": holdout_metrics(task, y_holdout, champion_probability)}
        gate = decide_promotion(
            cfg.promotion, task, y_holdout, probability, champion_probability, seed=cfg.model.random_seed
        ).to_dict()
        log.info(
            "promotion gate (%s) against champion v%d: %s; %s",
            gate["rule"],
            current["version"],
            "promote" if gate["promote"] else "refuse",
            gate["reason"],
        )
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
    importance = permutation_importance_frame(model, holdout, ds.features, ds.label, cfg.model.random_seed, task)
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
            "actor": rt.ctx.actor,
            "baseline": baseline,
            "champion": champion,
            "gate": gate,
            "validation": validation,
        }
        evaluation = {
            "metric": metric,
            "challenger": metrics,
            "baseline": baseline,
            "champion": champion,
            "promotion_gate": gate,
            "permutation_importance": importance.to_dict(orient="records"),
        }
        lineage = {
            **new.params,
            "config": new.config,
            "sklearn_version": new.sklearn_version,
            "python_version": new.python_version,
        }
        return {
            "metrics.json": to_json(evaluation),
            "params.json": to_json(lineage),
            "feature_schema.json": to_json(feature_schema),
            registry.VALIDATION_FILE: to_json(validation),
            registry.TRAINING_DATA_FILE: data,
            "training_data.sha256": f"{batch['sha256']}  {registry.TRAINING_DATA_FILE}\n".encode(),
            registry.MODEL_CARD_FILE: model_card_html(
                card=card, y_holdout=y_holdout, probability=probability, importance=importance, task=task
            ),
        }

    record = registry.register(rt.warehouse, rt.store, new, model_bytes, model_sha, artifacts)
    log.info("model card: %s", registry.model_card_uri(record["artifact_uri"]))
    return Trained(
        model_name=cfg.model.name,
        version=record["version"],
        metric=metric,
        challenger_metric=metrics[metric],
        metrics=metrics,
        champion_version=None if current is None else current["version"],
        champion_metric=None if champion is None else champion["metrics"][metric],
        champion_problem=champion_problem,
        baseline_metric=baseline[metric],
        artifact_uri=record["artifact_uri"],
        reproduces=batch["reproduces"],
        gate=gate,
    )


def promote(rt: Runtime, trained: Trained, force: bool = False) -> Promotion:
    """Record the promotion decision of a trained challenger; a promotion is live from the data
    interval's end. Against a champion, the decision is the promotion gate's (``trained["gate"]``,
    :func:`pipeline.models.promotion.decide_promotion`, computed by :func:`train` on the holdout rows),
    recorded with its intervals in ``decision_evidence``. Without a usable champion the challenger
    must beat the baseline by ``promotion.min_baseline_gain``
    (:func:`pipeline.models.evaluate.promotion_decision`); the reason says why no champion was
    compared. ``force`` promotes whatever the gate says (the reason keeps the gate's). A reproduction
    (:func:`snapshot`) is never promoted.

    Raises:
        RegistryError: the version is not an undecided candidate.
    """
    from pipeline.models import registry
    from pipeline.models.evaluate import promotion_decision

    metric, gate = trained["metric"], trained.get("gate")
    if trained["reproduces"]:
        verdict = "rejected"
        reason = (
            f"reproduction of v{trained['reproduces']} from its snapshot; reproductions "
            "are never promoted (roll back to serve a version again)"
        )
    elif gate is not None and not force:
        verdict, reason = ("promoted" if gate["promote"] else "rejected"), gate["reason"]
    else:
        verdict, reason = promotion_decision(
            metric,
            trained["challenger_metric"],
            trained["champion_metric"],
            rt.cfg.promotion.min_improvement,
            force,
            baseline=trained["baseline_metric"],
            min_baseline_gain=rt.cfg.promotion.min_baseline_gain,
        )
        if gate is not None:
            reason = f"{reason}; gate: {'promote' if gate['promote'] else 'refuse'}, {gate['reason']}"
        if trained.get("champion_problem"):
            reason = f"{trained['champion_problem']}; {reason}"
    decision = registry.Decision(
        verdict,
        reason,
        metric,
        trained["challenger_metric"],
        trained["champion_metric"],
        trained["champion_version"],
        rt.ctx.end,
        rt.ctx.actor,
        gate,
    )
    row = registry.decide(rt.warehouse, trained["model_name"], trained["version"], decision)
    log.info("model card: %s", registry.model_card_uri(row["artifact_uri"]))
    return Promotion(
        model_name=row["model_name"],
        version=row["version"],
        decision=row["decision"],
        reason=row["decision_reason"],
        status=row["status"],
    )


def run(rt: Runtime, force: bool = False, from_version: int | None = None) -> dict:
    """The whole retrain DAG in one call (CLI): extract (or reuse a version's snapshot), validate,
    train, promote. Returns the promotion merged over the trained challenger's summary."""
    batch = snapshot(rt, from_version) if from_version else extract(rt)
    trained = train(rt, batch, validate(rt, batch))
    return {**trained, **promote(rt, trained, force)}
