"""``make bench`` (``--only features``): what the flight model's feature query costs now that its
trailing rates read a daily aggregate (``dataset.aggregates``), at 1x, 3x and 10x flights, in one run.

Measured, each scale in a table of its own (the real ``nycflights13.flights`` at 1x; copies of it,
``sql/bench/flights_scaled.sql``, at 3x and 10x) with its own aggregate built from it:

- ``aggregates_cold_s``: bringing the aggregate current for a year of cutoffs from nothing
  (``COLD_DAYS`` daily periods), and ``aggregates_one_day_s``: then for one more day (one period);
- ``hourly_feature_query_s``: one execution of the feature query for an hourly predict run's window
  (:func:`pipeline.features.build.extract_feature_table`, the refresh included, which finds nothing to
  build), median over ``HOURLY_CUTOFFS`` (the same cutoffs at every scale) after a warm-up;
- ``hourly_feature_query_plan``: ``EXPLAIN (ANALYZE, BUFFERS)`` of one of them at 1x and 10x, as its
  costliest nodes (own time, rows, whether a sort spilled to disk);
- ``study_extraction_speedup``: the study's whole-year extraction (``pipeline study``'s default window)
  by the query before the aggregates (``benchmarks/reference/flights_full_history.sql``, which reads
  28 days of raw flights per cutoff) over the extraction with the offline store current (``dataset.store``,
  :func:`pipeline.features.build.extract_feature_table`), taking turns in this process, at 1x;
  ``study_extraction_computed_speedup``: the same over the current query computing every row (no store),
  and ``store_cold_s``: the first extraction, which stores the year from nothing; the stored and computed
  years must be equal, value for value;
- ``retrain_window_s``: a weekly retrain's 63-day extraction, every row computed, and with the store
  holding all but its last week (forgotten first).
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
import time
from pathlib import Path
from typing import Any

import pandas as pd

REFERENCE = Path(__file__).resolve().parent / "reference" / "flights_full_history.sql"
SCALES = (1, 3, 10)
AGGREGATE = "flight_outcomes_daily"
# Hourly predict runs' cutoffs spread over the year, in New York's daytime (UTC hours).
HOURLY_CUTOFFS = [
    dt.datetime(2013, m, d, h, tzinfo=dt.UTC)
    for m, d, h in (
        (2, 12, 14),
        (3, 12, 15),
        (4, 23, 17),
        (6, 12, 16),
        (7, 30, 20),
        (9, 3, 21),
        (10, 16, 13),
        (12, 10, 14),
    )
]
YEAR = (dt.datetime(2013, 1, 1, tzinfo=dt.UTC), dt.datetime(2014, 1, 1, tzinfo=dt.UTC))
COLD_DAYS = 364
STUDY_START = dt.datetime(2013, 3, 1, 5, tzinfo=dt.UTC)  # pipeline study's defaults: New York midnights
STUDY_END = dt.datetime(2014, 1, 1, 5, tzinfo=dt.UTC)
RETRAIN_CUTOFF = dt.datetime(2013, 9, 1, 4, tzinfo=dt.UTC)  # a Sunday's New York midnight


def scaled_dataset(work_dir: Path, table: str, tag: str) -> dict[str, Any]:
    """``dataset`` overrides of the flight model that read flights from ``table``, with the aggregate
    built from it into a table and under a name of its own (``bench.flight_outcomes_daily_<tag>``), and
    an offline store of its own (``bench.flight_delay_rows_<tag>``)."""
    from pipeline.config import load_config

    ds = load_config("flight_delay").dataset
    [agg] = ds.aggregates

    def rewrite(text: str) -> str:
        text = re.sub(r"\bnycflights13\.flights\b", table, text)
        text = text.replace(f"features.{AGGREGATE}", f"bench.{AGGREGATE}_{tag}")
        return text.replace(f"{AGGREGATE}_period", f"{AGGREGATE}_{tag}_period")

    paths = {}
    texts = {"features": ds.sql_path.read_text(), "build": agg.text("build"), "source": agg.text("source")}
    for kind, text in texts.items():
        paths[kind] = work_dir / f"{kind}_{tag}.sql"
        paths[kind].write_text(rewrite(text))
    aggregate = agg.model_dump() | {"name": f"{AGGREGATE}_{tag}", "build_sql": paths["build"]}
    aggregate["source_sql"] = paths["source"]
    store = ds.store.model_dump() | {"table": f"bench.flight_delay_rows_{tag}"}
    return {"feature_sql": paths["features"], "aggregates": [aggregate], "store": store}


def _dataset(overrides: dict[str, Any]):
    from pipeline.config import DatasetConfig, load_config

    return DatasetConfig.model_validate(load_config("flight_delay").dataset.model_dump() | overrides)


def _plan_summary(cur, query: str, params: dict, top: int = 4) -> list[str]:
    """The ``top`` nodes of the query's plan by their own time, one line each."""
    import json

    cur.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {query}", params)
    plan = cur.fetchone()[0]
    plan = plan if isinstance(plan, list) else json.loads(plan)
    nodes = []

    def walk(node: dict) -> float:
        total = node["Actual Total Time"] * node.get("Actual Loops", 1)
        own = total - sum(walk(child) for child in node.get("Plans", []))
        spill = " spilled to disk" if node.get("Sort Space Type") == "Disk" else ""
        name = node["Node Type"] + (f" on {node['Relation Name']}" if "Relation Name" in node else "")
        rows = node["Actual Rows"] * node.get("Actual Loops", 1)
        nodes.append((own, f"{name}: {own:.0f} ms own, {rows:,} rows{spill}"))
        return total

    root = plan[0]
    walk(root["Plan"])
    lines = [text for _, text in sorted(nodes, reverse=True)[:top]]
    return [f"total {root['Execution Time']:.0f} ms", *lines]


def measure(url: str, work_dir: Path, log) -> dict[str, Any]:
    """Build the 3x and 10x tables, then measure every scale (see the module docstring)."""
    from pipeline.config import load_config
    from pipeline.data.warehouse import Warehouse, read_frame, statement
    from pipeline.features.aggregates import refresh
    from pipeline.features.build import extract_feature_table, feature_query, window_params

    warehouse = Warehouse(url)
    rule = load_config("flight_delay").cutoff_rule
    r: dict[str, Any] = {"hourly_feature_query_s": {}, "aggregates_cold_s": {}, "aggregates_one_day_s": {}}
    r["hourly_feature_query_plan"] = {}
    datasets = {}
    for scale in SCALES:
        table = "nycflights13.flights" if scale == 1 else f"bench.flights_x{scale}"
        if scale > 1:
            with warehouse.transaction() as cur:
                cur.execute(statement("bench/flights_scaled", table=table), {"copies": scale, "key_stride": 10_000_000})
        ds = datasets[scale] = _dataset(scaled_dataset(work_dir, table, f"x{scale}"))
        last_day = YEAR[0] + dt.timedelta(days=COLD_DAYS)
        began = time.perf_counter()
        refresh(warehouse, ds.aggregates, YEAR[0], last_day)
        cold = time.perf_counter() - began
        began = time.perf_counter()
        [one] = refresh(warehouse, ds.aggregates, YEAR[0], last_day + dt.timedelta(days=1))
        one_day = time.perf_counter() - began
        if len(one.built) != 1:
            raise RuntimeError(f"the one-day refresh built {len(one.built)} periods, not 1")
        refresh(warehouse, ds.aggregates, YEAR[0], YEAR[1])
        r["aggregates_cold_s"][f"{scale}x"] = round(cold, 2)
        r["aggregates_one_day_s"][f"{scale}x"] = round(one_day, 3)
        log(
            f"  {scale:>2}x: aggregate of {COLD_DAYS} days from nothing {cold:.1f} s, "
            f"one more day {one_day * 1000:.0f} ms"
        )
    # The hourly query at every scale, taking turns cutoff after cutoff (background load hits them alike).
    times: dict[int, list[float]] = {scale: [] for scale in SCALES}
    for cutoff in [HOURLY_CUTOFFS[0], *HOURLY_CUTOFFS]:  # the first one twice: a warm-up
        for scale in SCALES:
            began = time.perf_counter()
            frame = extract_feature_table(warehouse, datasets[scale], rule, *rule.window(cutoff), require_label=False)
            times[scale].append(time.perf_counter() - began)
            if frame.empty:
                raise RuntimeError(f"no flights scored at cutoff {cutoff}")
    for scale in SCALES:
        hourly = statistics.median(times[scale][1:])
        r["hourly_feature_query_s"][f"{scale}x"] = round(hourly, 3)
        log(f"  {scale:>2}x: hourly feature query {hourly * 1000:.0f} ms (median of {len(HOURLY_CUTOFFS)} cutoffs)")
        if scale in (1, 10):
            with warehouse.transaction() as cur:
                params = window_params(rule, *rule.window(HOURLY_CUTOFFS[3]))
                plan = _plan_summary(cur, datasets[scale].sql_path.read_text(), params)
            r["hourly_feature_query_plan"][f"{scale}x"] = plan
            log(f"  {scale:>2}x plan: " + "; ".join(plan))
    hourly = r["hourly_feature_query_s"]
    r["hourly_feature_query_10x_over_1x"] = round(hourly["10x"] / hourly["1x"], 2)

    # The study's whole-year extraction: by the reference query, by the current one computing every row
    # (what storing the year costs), and through the offline store once it is current; taking turns.
    cfg = load_config("flight_delay")
    lo = STUDY_START - dt.timedelta(days=cfg.training.window_days + cfg.training.holdout_days)
    began = time.perf_counter()
    rows = len(extract_feature_table(warehouse, datasets[1], rule, lo, STUDY_END, require_label=True))
    r["store_cold_s"] = round(time.perf_counter() - began, 1)
    log(f"  study extraction, storing the year from nothing: {rows:,} rows in {r['store_cold_s']:.1f} s")
    computed = datasets[1].model_copy(update={"store": None})
    runs = {"reference": _dataset({"feature_sql": REFERENCE, "aggregates": [], "store": None}), "computed": computed}
    seconds: dict[str, list[float]] = {"reference": [], "computed": [], "stored": []}
    cpu: dict[str, list[float]] = {"reference": [], "computed": [], "stored": []}
    frames = {}
    for _ in range(2):
        for name in seconds:
            with warehouse.transaction() as cur:
                cur.execute("SELECT pg_backend_pid()")
                backend = cur.fetchone()[0]
            began, cpu_began = time.perf_counter(), _cpu_s(backend)
            if name == "stored":  # the pooled engine hands the same connection back: one backend
                frame = extract_feature_table(warehouse, datasets[1], rule, lo, STUDY_END, require_label=True)
            else:
                with warehouse.transaction() as cur:
                    params, categorical = window_params(rule, lo, STUDY_END), computed.categorical_features
                    frame = read_frame(cur, feature_query(runs[name]), params, categorical)
            seconds[name].append(time.perf_counter() - began)
            cpu[name].append(_cpu_s(backend) - cpu_began)
            if len(frame) != rows:
                raise RuntimeError(f"the {name} extraction returned {len(frame)} rows, not {rows}")
            frames[name] = frame
            log(
                f"  study extraction, {name}: {rows:,} rows in {seconds[name][-1]:.1f} s, "
                f"server CPU {cpu[name][-1]:.1f} s"
            )
    r["study_extraction_rows"] = rows
    r["study_extraction_s"] = {k: round(min(v), 1) for k, v in seconds.items()}
    r["study_extraction_server_cpu_s"] = {k: round(min(v), 1) for k, v in cpu.items()}
    r["study_extraction_speedup"] = round(min(seconds["reference"]) / min(seconds["stored"]), 2)
    r["study_extraction_computed_speedup"] = round(min(seconds["reference"]) / min(seconds["computed"]), 2)
    # the store's rows are the query's own, value for value
    pd.testing.assert_frame_equal(frames["stored"], frames["computed"], check_exact=True)
    r.update(_retrain_window(warehouse, datasets[1], rule, log))
    return r


def _retrain_window(warehouse, dataset, rule, log) -> dict[str, Any]:
    """A weekly retrain's extraction (``training.window_days + holdout_days`` before ``RETRAIN_CUTOFF``):
    every row computed, against the store holding all but its last week."""
    from pipeline.config import load_config
    from pipeline.features import store
    from pipeline.features.build import extract_feature_table

    cfg = load_config("flight_delay")
    lo = RETRAIN_CUTOFF - dt.timedelta(days=cfg.training.window_days + cfg.training.holdout_days)
    computed, new_week = [], []
    for _ in range(2):
        began = time.perf_counter()
        extract_feature_table(warehouse, dataset.model_copy(update={"store": None}), rule, lo, RETRAIN_CUTOFF, True)
        computed.append(time.perf_counter() - began)
        store.forget(warehouse, dataset.store, RETRAIN_CUTOFF - dt.timedelta(days=7))
        began = time.perf_counter()
        extract_feature_table(warehouse, dataset, rule, lo, RETRAIN_CUTOFF, True)
        new_week.append(time.perf_counter() - began)
    figures = {"computed": round(min(computed), 2), "last_week_new": round(min(new_week), 2)}
    log(
        f"  retrain window of {(RETRAIN_CUTOFF - lo).days} days: computed {figures['computed']:.2f} s, "
        f"with its last week new to the store {figures['last_week_new']:.2f} s"
    )
    return {"retrain_window_s": figures}


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a local PostgreSQL backend (``/proc/<pid>/stat``; the benchmark's
    cluster runs on this machine)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


TARGETS = {"hourly_feature_query_10x_over_1x": 3.0, "study_extraction_speedup": 3.0}


def checks(r: dict) -> list[tuple[str, bool, str]]:
    """(target, met, figures) for the feature-query bars."""
    hourly = r["hourly_feature_query_s"]
    return [
        (
            f"an hourly feature query at 10x flights <= {TARGETS['hourly_feature_query_10x_over_1x']:g}x "
            "its time at 1x",
            r["hourly_feature_query_10x_over_1x"] <= TARGETS["hourly_feature_query_10x_over_1x"],
            f"{r['hourly_feature_query_10x_over_1x']:.2f}x "
            f"({hourly['10x'] * 1000:.0f} ms / {hourly['1x'] * 1000:.0f} ms)",
        ),
        (
            f"the study's whole-year extraction >= {TARGETS['study_extraction_speedup']:g}x faster "
            "than before the aggregates (offline store current)",
            r["study_extraction_speedup"] >= TARGETS["study_extraction_speedup"],
            f"{r['study_extraction_speedup']:.2f}x ({r['study_extraction_s']['reference']:.1f} s / "
            f"{r['study_extraction_s']['stored']:.1f} s)",
        ),
    ]


def report(r: dict) -> list[str]:
    """The feature-query figures as a Markdown table."""
    lines = [
        "The flight model's feature query, trailing rates from the daily aggregate:",
        "",
        "| flights | hourly feature query | aggregate, a year from nothing | aggregate, one more day |",
        "|---|---:|---:|---:|",
    ]
    for scale in SCALES:
        k = f"{scale}x"
        lines.append(
            f"| {k} | {r['hourly_feature_query_s'][k] * 1000:.0f} ms | {r['aggregates_cold_s'][k]:.1f} s | "
            f"{r['aggregates_one_day_s'][k] * 1000:.0f} ms |"
        )
    t, c = r["study_extraction_s"], r["study_extraction_server_cpu_s"]
    lines.append(
        f"\n10x over 1x: {r['hourly_feature_query_10x_over_1x']:.2f}x. The study's whole-year extraction "
        f"({r['study_extraction_rows']:,} rows): {t['reference']:.1f} s before the aggregates (server CPU "
        f"{c['reference']:.1f} s); {t['computed']:.1f} s computing every row now "
        f"({r['study_extraction_computed_speedup']:.2f}x, server CPU {c['computed']:.1f} s); "
        f"{t['stored']:.1f} s read from the offline store ({r['study_extraction_speedup']:.2f}x, server CPU "
        f"{c['stored']:.1f} s), after storing the year from nothing in {r['store_cold_s']:.1f} s. A retrain's "
        f"window: {r['retrain_window_s']['computed']:.2f} s computed, {r['retrain_window_s']['last_week_new']:.2f} s "
        "with its last week new to the store."
    )
    for k, plan in r["hourly_feature_query_plan"].items():
        lines.append(f"\nPlan at {k}: " + "; ".join(plan))
    return lines
