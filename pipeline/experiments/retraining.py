"""Retraining-interval study: replay the data day by day through the pipeline's own code and compare
retraining policies. ``pipeline study --help``.

Each day ``d`` (a UTC midnight, the logical time a daily DAG run's data interval ends at), every policy
first decides whether to retrain as of ``d``, then scores the entities whose timestamp lies in
``[d, d + 1 day)`` with its current model: next-day predictions, from a model that has seen no data
from ``d`` on. Policies:

- ``never``: the first model only;
- ``monthly``: retrain on the 1st of each month;
- ``weekly``: retrain on Mondays;
- ``drift``: each day, measure the last ``monitoring.window_days`` before ``d`` with the function the
  ``monitor`` stage calls, :func:`~pipeline.monitoring.window.evaluate_window` (the realized ROC AUC
  pools every prediction the policy made for the window, whichever of its models made it, as the
  monitor pools every champion prediction), and apply the same rule, :func:`decide_retrain`, with
  ``cfg.monitoring`` (the realized ROC AUC against the model's own holdout ROC AUC, its age, and the
  drift triggers where switched on); retrain when it says so.

Every model of every policy is :func:`train_model` fitted on the training rows of
``TimeSplit.ending_at(d, cfg.training)`` (:func:`split_by_time`); the first one, shared by all
policies, is trained as of ``start``. Training is deterministic (fixed seed), so a model trained as of
the same day by two policies is fitted once and its measured fit time charged to each.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import PROJECT_ROOT, PipelineConfig
from pipeline.experiments.result import StudyResult
from pipeline.models.train import TimeSplit, known_labels, predict, split_by_time, train_model
from pipeline.monitoring.performance import metric_value, realized_performance
from pipeline.monitoring.trigger import TriggerEvidence, decide_retrain
from pipeline.monitoring.window import evaluate_window

log = logging.getLogger(__name__)

POLICIES = ("never", "monthly", "weekly", "drift")
DAY = dt.timedelta(days=1)
DEFAULT_OUT = PROJECT_ROOT / ".local" / "study"
TASK = "binary_classification"  # the study compares classifiers by realized ROC AUC


@dataclass(frozen=True)
class Model:
    """A model trained as of ``trained_at`` (its split's holdout end, a UTC midnight), with its holdout
    ROC AUC (None on a single class)."""

    trained_at: dt.datetime
    pipeline: Any
    split: TimeSplit
    holdout_scores: np.ndarray
    fit_seconds: float
    holdout_roc_auc: float | None

    @property
    def name(self) -> str:
        """The ISO date it was trained as of, which identifies it in the results."""
        return self.trained_at.date().isoformat()


def extraction_window(cfg: PipelineConfig, start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The feature-table window a replay of ``[start, end)`` needs: the first model's training window
    and holdout before ``start``, then through ``end``."""
    return start - dt.timedelta(days=cfg.training.window_days + cfg.training.holdout_days), end


def scheduled_retrain(policy: str, day: dt.datetime) -> bool:
    """Whether a scheduled policy retrains as of ``day``: ``monthly`` on the 1st, ``weekly`` on Mondays."""
    return (policy == "monthly" and day.day == 1) or (policy == "weekly" and day.weekday() == 0)


def replay(
    frame: pd.DataFrame, cfg: PipelineConfig, start: dt.datetime, end: dt.datetime, policies: Sequence[str] = POLICIES
) -> StudyResult:
    """Replay ``[start, end)`` day by day for each policy (see the module docstring).

    Args:
        frame: the feature table with labels (:func:`extract_feature_table`, ``require_label=True``)
            covering at least :func:`extraction_window`; its timestamp column is timezone-aware.
        cfg: the pipeline config; its ``dataset``, ``model``, ``training`` and ``monitoring`` sections are used.
        start, end: timezone-aware midnights, ``start < end``; the first model is trained as of ``start``.
        policies: a subset of :data:`POLICIES`.

    Returns:
        The :class:`StudyResult`.

    Raises:
        ValueError: an unknown policy, or ``start``/``end`` not timezone-aware midnights in order.
        TrainingDataError: a training window or holdout has no labelled rows.
    """
    unknown = sorted(set(policies) - set(POLICIES))
    if unknown or not policies:
        raise ValueError(f"policies must be some of {list(POLICIES)}, got {list(policies)}")
    for t in (start, end):
        if t.tzinfo is None or t != t.replace(hour=0, minute=0, second=0, microsecond=0):
            raise ValueError(f"start and end must be timezone-aware midnights, got {t}")
    if start >= end:
        raise ValueError(f"start {start} is not before end {end}")
    ds, mon = cfg.dataset, cfg.monitoring
    frame = frame.sort_values(ds.timestamp, kind="stable").reset_index(drop=True)
    stamps = frame[ds.timestamp]
    models: dict[dt.datetime, Model] = {}
    reference: dict[str, pd.DataFrame] = {}  # the drift policy's current model -> its training rows
    clock = {"monitor_seconds": 0.0, "score_seconds": 0.0}

    def rows(lo: dt.datetime, hi: dt.datetime) -> pd.DataFrame:
        return frame.iloc[stamps.searchsorted(lo) : stamps.searchsorted(hi)]

    def model_as_of(day: dt.datetime) -> Model:
        if day not in models:
            split = TimeSplit.ending_at(day, cfg.training)
            train, holdout = split_by_time(frame, split, ds, TASK)
            began = time.perf_counter()
            pipeline = train_model(train, cfg.model, ds)
            seconds = time.perf_counter() - began
            scores = predict(pipeline, holdout, ds, TASK)
            auc = metric_value("roc_auc", holdout[ds.label], scores)
            models[day] = Model(day, pipeline, split, scores, seconds, auc)
        return models[day]

    def monitor(day: dt.datetime, model: Model, made: list[pd.DataFrame], last_trigger: dt.datetime | None):
        began = time.perf_counter()
        window_start = day - dt.timedelta(days=mon.window_days)
        window = rows(window_start, day)
        if window.empty:
            return None
        if model.name not in reference:
            reference.clear()
            reference[model.name] = split_by_time(frame, model.split, ds, TASK)[0]
        recent = [f for f in made[-mon.window_days :] if f["day"].iloc[0] >= window_start.date()]
        predictions = (
            (
                pd.concat(recent, ignore_index=True)[[*ds.key, "score", "model"]]
                if recent
                else pd.DataFrame({**{k: [] for k in ds.key}, "score": [], "model": []})
            )
            .rename(columns={"model": "model_version", "score": "prediction"})
            .assign(is_champion=True)
        )
        evaluation = evaluate_window(
            model.pipeline,
            reference[model.name],
            model.holdout_scores,
            known_labels(window, ds, day),
            predictions,
            ds,
            mon,
            TASK,
        )
        voting = cfg.voting_features
        performance = evaluation.performance
        labelled = performance.loc[performance["metric"] == "rows", "value"].sum() if len(performance) else 0
        evidence = TriggerEvidence(
            metric="roc_auc",
            realized=evaluation.realized,
            labelled_rows=int(labelled),
            champion_holdout=model.holdout_roc_auc,
            champion_cutoff=model.trained_at,
            feature_drift=evaluation.feature_drift,
            prediction_drift=evaluation.prediction_drift,
            features=voting,
        )
        decision = decide_retrain(evidence, mon, last_trigger, day)
        clock["monitor_seconds"] += time.perf_counter() - began
        return {
            "day": day.date(),
            "model": model.name,
            "window_rows": len(window),
            "drifted_features": len(evaluation.drifted_features(voting)),
            "voting_features": len(voting),
            "score_psi": evaluation.score_psi,
            "realized_roc_auc": evaluation.realized,
            "retrain": decision.retrain,
            "suppressed": decision.suppressed,
            "reasons": decision.reasons,
        }

    began = time.perf_counter()
    first = model_as_of(start)
    current = dict.fromkeys(policies, first)
    made: dict[str, list[pd.DataFrame]] = {p: [] for p in policies}
    retrains, drift, last_trigger = [], [], None
    day = start
    while day < end:
        for policy in policies:
            reasons = []
            if day > start and policy == "drift":
                check = monitor(day, current[policy], made[policy], last_trigger)
                if check:
                    drift.append(check)
                if check and check["retrain"]:
                    reasons, last_trigger = check["reasons"], day
            elif day > start and scheduled_retrain(policy, day):
                reasons = [f"scheduled: {policy}"]
            if reasons:
                current[policy] = model = model_as_of(day)
                retrains.append(
                    {
                        "policy": policy,
                        "day": day.date(),
                        "model": model.name,
                        "fit_seconds": model.fit_seconds,
                        "reasons": reasons,
                    }
                )
            batch = rows(day, day + DAY)
            if len(batch):
                scoring = time.perf_counter()
                scores = predict(current[policy].pipeline, batch, ds, TASK)
                clock["score_seconds"] += time.perf_counter() - scoring
                made[policy].append(
                    pd.DataFrame(
                        {**{k: batch[k].to_numpy() for k in ds.key}, "score": scores, ds.label: batch[ds.label].array}
                    ).assign(policy=policy, day=day.date(), model=current[policy].name)
                )
        day += DAY
        if day.day == 1 or day == end:
            _log_month(made, retrains, day - DAY, ds.label, time.perf_counter() - began)
    timings = clock | {
        "replay_seconds": time.perf_counter() - began,
        "unique_fits": len(models),
        "fit_seconds_unique": sum(m.fit_seconds for m in models.values()),
    }
    return _result(made, retrains, drift, first, list(policies), ds.label, timings)


def _log_month(made: dict, retrains: list[dict], day: dt.datetime, label: str, elapsed: float) -> None:
    month = day.strftime("%Y-%m")
    for policy, frames in made.items():
        frames = [f for f in frames[-31:] if f["day"].iloc[0].strftime("%Y-%m") == month]
        auc = (
            realized_performance(pd.concat(frames), label, TASK, "score", by=())["roc_auc"]
            if frames
            else pd.Series(dtype=float)
        )
        count = sum(r["policy"] == policy and r["day"].strftime("%Y-%m") == month for r in retrains)
        log.info(
            "%s %-7s pooled ROC AUC %s, %d retrain(s); elapsed %.0f s",
            month,
            policy,
            f"{auc.iloc[0]:.4f}" if len(auc) else "n/a",
            count,
            elapsed,
        )


def _result(
    made: dict, retrains: list[dict], drift: list[dict], first: Model, policies: list[str], label: str, timings: dict
) -> StudyResult:
    predictions = pd.concat([f for p in policies for f in made[p]], ignore_index=True)
    daily = realized_performance(predictions, label, TASK, "score", by=["policy", "day"])
    monthly = realized_performance(
        predictions.assign(month=pd.to_datetime(predictions["day"]).dt.strftime("%Y-%m")),
        label,
        TASK,
        "score",
        by=["policy", "month"],
    )
    retrains = pd.DataFrame(retrains, columns=["policy", "day", "model", "fit_seconds", "reasons"])
    summary = pd.DataFrame(
        [
            {
                "policy": p,
                "retrains": int((retrains["policy"] == p).sum()),
                "train_seconds": first.fit_seconds + float(retrains.loc[retrains["policy"] == p, "fit_seconds"].sum()),
                "mean_daily_auc": float(daily.loc[daily["policy"] == p, "roc_auc"].mean()),
                "pooled_auc": float(
                    realized_performance(predictions[predictions["policy"] == p], label, TASK, "score", by=())[
                        "roc_auc"
                    ].iloc[0]
                ),
            }
            for p in policies
        ]
    )
    drift = pd.DataFrame(
        drift,
        columns=[
            "day",
            "model",
            "window_rows",
            "drifted_features",
            "voting_features",
            "score_psi",
            "realized_roc_auc",
            "retrain",
            "suppressed",
            "reasons",
        ],
    )
    return StudyResult(predictions, daily, monthly, retrains, drift, summary, timings)


def markdown_table(result: StudyResult) -> str:
    """The result table in Markdown: one row per policy with its retrains, training seconds, mean daily
    and pooled ROC AUC, then each month's pooled ROC AUC."""
    months = sorted(result.monthly["month"].unique())
    by_month = result.monthly.pivot(index="policy", columns="month", values="roc_auc")
    head = ["policy", "retrains", "training s", "mean daily AUC", "pooled AUC", *months]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for row in result.summary.itertuples():
        cells = [row.policy, str(row.retrains), f"{row.train_seconds:.0f}", f"{row.mean_daily_auc:.4f}"]
        cells += [f"{row.pooled_auc:.4f}"] + [f"{by_month.loc[row.policy, m]:.4f}" for m in months]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def describe(cfg: PipelineConfig, start: dt.datetime, end: dt.datetime, policies: Sequence[str], rows: int) -> dict:
    """The run's settings for the report and ``results.json``: ``start``, ``end`` (ISO dates),
    ``policies``, ``rows`` (feature-table rows) and the ``model``, ``training`` and ``monitoring``
    config sections as dicts."""
    return {
        "start": start.date().isoformat(),
        "end": end.date().isoformat(),
        "policies": list(policies),
        "rows": rows,
        "model": cfg.model.model_dump(),
        "training": cfg.training.model_dump(),
        "monitoring": cfg.monitoring.model_dump(),
    }


def save(result: StudyResult, out: Path, meta: dict) -> Path:
    """Write ``results.json`` (meta, timings, summary, monthly, daily, retrains, drift; no per-flight
    predictions) and the HTML report with its PNGs into ``out``. Returns the report's path."""
    from pipeline.visualization.study_report import write_report

    out.mkdir(parents=True, exist_ok=True)
    tables = {
        name: json.loads(getattr(result, name).to_json(orient="records", date_format="iso"))
        for name in ("summary", "monthly", "daily", "retrains", "drift")
    }
    doc = {"meta": meta, "timings": result.timings, "table": markdown_table(result), **tables}
    (out / "results.json").write_text(json.dumps(doc, indent=2, default=str))
    return write_report(result, out, meta, markdown_table(result))


def run(
    cfg: PipelineConfig, out: Path, start: dt.datetime, end: dt.datetime, policies: Sequence[str], threads: int = 1
) -> str:
    """``pipeline study``: extract the feature table from the warehouse, replay, write the report into
    ``out``, and return the result table (Markdown).

    Args:
        threads: OpenMP/BLAS threads per fit (0: the libraries' default, every core).

    Raises:
        ValueError, TrainingDataError: as :func:`replay`.
        WarehouseError, LocalClusterError: the warehouse cannot be read.
    """
    from threadpoolctl import threadpool_limits

    from pipeline.features.build import extract_feature_table
    from pipeline.stages.retrain import code_version
    from pipeline.stages.runtime import open_warehouse

    began = time.perf_counter()
    lo, hi = extraction_window(cfg, start, end)
    frame = extract_feature_table(open_warehouse(cfg), cfg.dataset, cfg.cutoff_rule, lo, hi, require_label=True)
    extracted = time.perf_counter() - began
    log.info(
        "extracted %d rows for [%s, %s) in %.1f s; replaying %s",
        len(frame),
        lo.date(),
        hi.date(),
        extracted,
        ", ".join(policies),
    )
    with threadpool_limits(threads or None):
        result = replay(frame, cfg, start, end, policies)
    result.timings["extract_seconds"] = extracted
    meta = describe(cfg, start, end, policies, len(frame)) | {
        "code_version": code_version(),
        "threads": threads or "library default",
    }
    reporting = time.perf_counter()
    report = save(result, out, meta)
    result.timings["report_seconds"] = time.perf_counter() - reporting
    result.timings["total_seconds"] = time.perf_counter() - began
    log.info("report: %s (timings: %s)", report, {k: round(v, 1) for k, v in result.timings.items()})
    return markdown_table(result)
