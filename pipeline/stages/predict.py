"""The predict DAG's stages: resolve_models -> plan_scoring -> score_partition (mapped) -> publish."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterator
from typing import TypedDict

from pipeline.features.batch import BatchFile
from pipeline.stages.runtime import Runtime

log = logging.getLogger(__name__)


class ServingModels(TypedDict):
    """The versions a predict run scores with, pinned for the whole run."""

    model_name: str
    champion: int
    shadows: list[int]


class PartitionSpec(TypedDict):
    """One hash partition of the interval's entities: ``partition`` in ``0..partitions-1``, its file
    of the run's feature batch (``batch``: the manifest's key), and ``rows``, the whole interval's."""

    partition: int
    partitions: int
    rows: int
    batch: str
    file: BatchFile


class Scored(TypedDict):
    """A scored partition: its entities, the predictions staged for it (every version's), the feature
    batch (its manifest's key) and the file of it that was read."""

    partition: int
    rows: int
    staged: int
    batch: str
    file: str


class Published(TypedDict):
    """The interval's published predictions; ``rows`` counts every version's. ``start`` and ``end``:
    the data interval; ``window_start`` and ``window_end``: the scored window (ISO)."""

    table: str
    rows: int
    model_name: str
    version: int
    shadows: list[int]
    partitions: int
    start: str
    end: str
    window_start: str
    window_end: str


def resolve_models(rt: Runtime) -> ServingModels:
    """The champion and the shadow challengers configured in ``predictions``.

    Raises:
        NoChampionError: the model has no champion yet (run ``retrain`` first).
        RegistryError: a configured shadow version is unknown or not servable.
    """
    from pipeline.models import registry

    name = rt.cfg.model.name
    champion = registry.require_champion(rt.warehouse, name)["version"]
    shadows = set(rt.cfg.predictions.shadow_versions)
    if rt.cfg.predictions.shadow_latest_candidate:
        shadows |= {row["version"] for row in rt.warehouse.fetch("ml/registry_latest_candidate", {"model_name": name})}
    shadows.discard(champion)
    for version in shadows:
        status = registry.get_version(rt.warehouse, name, version)["status"]
        if status not in ("candidate", "archived"):
            raise registry.RegistryError(f"shadow version {name} v{version} is {status}; it cannot score")
    return ServingModels(model_name=name, champion=champion, shadows=sorted(shadows))


def scored_window(rt: Runtime) -> tuple[dt.datetime, dt.datetime]:
    """The entity timestamps a run scores: ``[T + lead, T + lead + horizon)`` for the run's cutoff T,
    the end of its data interval (:meth:`pipeline.schedule.CutoffRule.window`)."""
    return rt.cfg.cutoff_rule.window(rt.ctx.end)


def plan_scoring(rt: Runtime) -> list[PartitionSpec]:
    """Create the predictions table on the model's first run
    (:func:`pipeline.data.schema.provision_predictions`), run the feature query once for the scored
    window (:func:`scored_window`), and keep the result as the run's feature batch: one Parquet file per
    hash partition of about ``predictions.rows_per_partition`` rows (at most
    ``predictions.max_partitions``) and a manifest (:func:`pipeline.features.batch.write_batch`), in a
    folder new to this attempt. Airflow maps :func:`score_partition` over the list; each spec carries
    only its file's key, rows and SHA-256.

    Raises:
        EmptyIntervalError: no entities in the scored window: "nothing to score" (skipped or failed as
            ``schedule.on_empty`` says); nothing is written.
        CutoffMismatchError: a row's ``as_of`` is not the run's cutoff (the schedule and the cutoff
            rule disagree); nothing is written.
    """
    import uuid

    from pipeline.data.schema import provision_predictions
    from pipeline.features.batch import BATCH_FOLDER, write_batch
    from pipeline.features.build import check_cutoff, extract_feature_table, feature_sql

    cfg, ds = rt.cfg, rt.cfg.dataset
    provision_predictions(rt.warehouse, cfg)
    lo, hi = scored_window(rt)
    frame = extract_feature_table(rt.warehouse, ds, cfg.cutoff_rule, lo, hi, False)
    if frame.empty:
        rt.nothing_to_do(
            f"no {ds.name} entities in [{lo}, {hi}), the window a run cut off at {rt.ctx.end} scores: nothing to score"
        )
    check_cutoff(frame, rt.ctx.end, (lo, hi))
    pc = cfg.predictions
    partitions = max(1, min(pc.max_partitions, math.ceil(len(frame) / pc.rows_per_partition)))
    log.info(
        "%s: %d entities, %d scoring partition(s)", rt.ctx.describe(scored_window=(lo, hi)), len(frame), partitions
    )
    batch = write_batch(
        rt.store,
        rt.ctx.key(f"{BATCH_FOLDER}/{uuid.uuid4().hex}"),
        frame,
        ds.key,
        partitions,
        model_name=cfg.model.name,
        run_id=rt.ctx.run_id,
        cutoff=rt.ctx.end,
        window=(lo, hi),
        feature_sql=feature_sql(ds),
    )
    return [
        PartitionSpec(partition=f["partition"], partitions=partitions, rows=len(frame), batch=batch["manifest"], file=f)
        for f in batch["files"]
    ]


def score_partition(rt: Runtime, models: ServingModels, spec: PartitionSpec) -> Scored:
    """Read one hash partition's file of the run's feature batch, validate it, score it, and stage its
    predictions. The feature query is not run: the file holds the entities of the scored window, each
    as of the run's cutoff, as planning computed them.

    Memory is bounded by the partition (``predictions.rows_per_partition``), not the interval: the
    partition is validated whole, then scored and written in chunks of ``predictions.chunk_rows``
    by every pinned version (champion and shadow challengers). Idempotent per partition.

    The suite's row-count bounds apply to the interval (``spec["rows"]`` entities), not to the
    partition; an empty partition (hash partitions of a small interval can be) is skipped, logged,
    and stages nothing.

    Raises:
        FeatureBatchError: the file's bytes differ from those planning registered; nothing is staged.
        ValidationFailedError: the partition's batch fails the scoring suite; nothing is staged.
    """
    from pipeline.data.predictions import stage_partition
    from pipeline.features.batch import read_partition

    cfg, ctx, ds = rt.cfg, rt.ctx, rt.cfg.dataset
    partition, partitions = spec["partition"], spec["partitions"]
    frame = read_partition(rt.store, spec["file"])
    ids = {
        "model_name": models["model_name"],
        "start": ctx.start,
        "end": ctx.end,
        "run_id": ctx.run_id,
        "partition": partition,
        "partitions": partitions,
        "window": scored_window(rt),
    }
    if frame.empty:
        log.info("partition %d/%d: no entities in this hash partition, nothing to score", partition + 1, partitions)
        stage_partition(rt.warehouse, cfg.predictions, ds.key, [], **ids)  # clears an earlier attempt's rows
        return Scored(partition=partition, rows=0, staged=0, batch=spec["batch"], file=spec["file"]["key"])
    name = "scoring" if partitions == 1 else f"scoring-{partition + 1}-of-{partitions}"
    rt.validate(frame, "scoring", name, ctx.start, ctx.end, interval_rows=spec["rows"] if partitions > 1 else None)
    staged = stage_partition(rt.warehouse, cfg.predictions, ds.key, _scored_chunks(rt, models, frame), **ids)
    log.info(
        "%s: partition %d/%d: %d entities, %d predictions staged",
        ctx.describe(scored_window=scored_window(rt)),
        partition + 1,
        partitions,
        len(frame),
        staged,
    )
    return Scored(partition=partition, rows=len(frame), staged=staged, batch=spec["batch"], file=spec["file"]["key"])


def _scored_chunks(rt: Runtime, models: ServingModels, frame) -> Iterator:
    """The predictions of ``frame`` by every pinned version (champion, then shadow challengers), in
    chunks of ``predictions.chunk_rows`` entities: DataFrames of ``score``'s columns plus
    ``model_version`` (int) and ``is_champion`` (bool). Every version's model is loaded here, before
    the first chunk is asked for.

    Raises:
        ArtifactIntegrityError, ArtifactError: a pinned version's model cannot be loaded.
    """
    from pipeline.models import registry
    from pipeline.models.predict import score

    cfg = rt.cfg
    versions = [(models["champion"], True)] + [(v, False) for v in models["shadows"]]
    loaded = [
        (registry.load_model(rt.store, registry.get_version(rt.warehouse, models["model_name"], v)), v, live)
        for v, live in versions
    ]
    step = cfg.predictions.chunk_rows

    def chunks() -> Iterator:
        for first in range(0, len(frame), step):
            part = frame.iloc[first : first + step]
            for model, version, live in loaded:
                scored = score(model, part, cfg.dataset, cfg.model.decision_threshold, cfg.task)
                yield scored.assign(model_version=version, is_champion=live)

    return chunks()


def publish(rt: Runtime, models: ServingModels, plan: list[PartitionSpec], scored: list[Scored]) -> Published:
    """Publish every staged partition as the interval's predictions, atomically
    (:func:`pipeline.data.predictions.publish`); ``scored`` is what the partitions reported, which the
    staged rows must match.

    Raises:
        IncompleteRunError: a planned partition has not been staged; nothing changes.
    """
    from pipeline.data.predictions import IncompleteRunError
    from pipeline.data.predictions import publish as publish_staged

    if len(scored) != len(plan):
        raise IncompleteRunError(f"{len(scored)} of {len(plan)} planned partitions were scored")
    batches = {spec["batch"] for spec in plan} | {s["batch"] for s in scored}
    if len(batches) != 1:
        raise IncompleteRunError(f"the scored partitions come from {len(batches)} feature batches: {sorted(batches)}")

    window = scored_window(rt)
    rows = publish_staged(
        rt.warehouse,
        rt.cfg.predictions,
        rt.cfg.dataset.key,
        rt.cfg.task,
        model_name=models["model_name"],
        start=rt.ctx.start,
        end=rt.ctx.end,
        run_id=rt.ctx.run_id,
        partitions=sum(1 for s in scored if s["staged"]),
        rows=sum(s["staged"] for s in scored),
        batch=plan[0]["batch"],
        batch_rows=plan[0]["rows"],
        window=window,
    )
    log.info(
        "%s: %d predictions published to %s", rt.ctx.describe(scored_window=window), rows, rt.cfg.predictions.table
    )
    return Published(
        table=rt.cfg.predictions.table,
        rows=rows,
        model_name=models["model_name"],
        version=models["champion"],
        shadows=models["shadows"],
        partitions=len(plan),
        start=rt.ctx.start.isoformat(),
        end=rt.ctx.end.isoformat(),
        window_start=window[0].isoformat(),
        window_end=window[1].isoformat(),
    )


def run(rt: Runtime) -> Published:
    """The whole predict DAG in one call (CLI): resolve the models, plan the partitions, score them
    one after another, publish."""
    models = resolve_models(rt)
    plan = plan_scoring(rt)
    scored = [score_partition(rt, models, spec) for spec in plan]
    return publish(rt, models, plan, scored)
