"""Retraining study: replay a span of the data (by default March to December 2013) through the
pipeline's own feature query, training, promotion gate, trigger rule and scoring, once per retraining
policy, and compare the policies. ``pipeline study --help``; ``make study``.

What is replayed, and how:

- **Features: one extraction.** The feature table is extracted once, for the entities stamped in
  ``[first training window start, end)``, with :func:`~pipeline.features.build.extract_feature_table`
  and the model's :class:`~pipeline.schedule.CutoffRule`. Each row's features are as of its own cutoff
  (column ``as_of``): the cutoff of the predict run that scores it. The feature query is ONE query
  for training and scoring, so a row of this table is exactly what the predict run cut off at its
  ``as_of`` computes for that entity. That is why one extraction stands for the ~7,000 hourly predict
  runs of March to December (for the demo's hourly flight model in New York time, lead 1 h) and for
  every retrain's training table.
- **Labels: known before use** (:func:`known_labels`, the rule of every stage). A row's label is usable
  at time t only when ``label_known_at < t``: a retrain cut off at R trains and evaluates on the rows
  whose label was known before R; the monitor as of R measures realized performance on those only. The
  study's own scores (pooled, daily and monthly ROC AUC) use every label that ever arrived.
- **Scoring.** Each predict cutoff T (every tick of the cutoff rule in ``[start, end)``) scores the
  entities of ``cfg.cutoff_rule.window(T)`` (the rows whose ``as_of`` is T) with the policy's champion
  at T: the model promoted at its latest retrain cutoff R <= T (a retrain as of R uses no data from R
  on, so the predict run cut off at R may use it). The rows between two champion changes are scored
  in one call, which gives the same scores as one call per cutoff.
- **Retraining.** Retrain cutoffs R are midnights in ``schedule.timezone`` (New York for the demo).
  A retrain as of R is the retrain stage's: a challenger is trained (:func:`train_model`) on the
  labelled rows stamped in ``[R - window_days - holdout_days, R - holdout_days)``, evaluated with the
  champion on the holdout ``[R - holdout_days, R)`` (labels known before R in both), and the promotion
  gate (``decide_promotion`` with the model's ``promotion`` section) decides; the champion changes
  only when the challenger is promoted. Every policy uses the configured gate (the noninferiority rule
  by default) except ``weekly_improvement``, which uses the old "promote if better" rule
  (``promotion.rule: improvement``) on the weekly schedule.
- **Policies.** ``never``: the first model only, trained as of ``start`` (every policy starts from it).
  ``monthly``: the 1st of each month. ``weekly`` and ``weekly_improvement``: Sundays, the ``@weekly``
  retrain schedule's ticks. ``monitor``: each midnight after ``start``, the monitor's decision as of
  that midnight: ``decide_retrain`` with the real ``monitoring`` config on the policy's own
  predictions stamped in the last ``monitoring.trigger.performance_window_days`` whose labels were
  known before R (pooled, whichever champion made them, as the monitor pools live predictions), the
  champion's own holdout metric, its age (from its holdout end) and the cooldown. The drift triggers
  (off by default) are not replayed.
- **Performance before labels (CBPE).** For the ``monitor`` policy, each day's ROC AUC is also
  estimated from the scores alone (``estimate_performance``, with a calibrator fitted on the scoring
  champion's own holdout: ``fit_calibrator``), next to the realized one.
- **Shared fits.** Training is deterministic (fixed seed), so a challenger trained as of R is fitted
  once and its wall seconds charged to every policy that trains as of R. Fits run with one native
  thread each (``threadpoolctl``; the caller sets it).

A "day" of the results is the local date (``schedule.timezone``) of the predict cutoff that made the
prediction, so one day's predictions come from one champion. Not replayed: Airflow, the expectation
suites, the registry and artifact I/O, drift monitoring: the stages' bookkeeping, not their decisions.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from pipeline.config import PROJECT_ROOT, PipelineConfig
from pipeline.experiments.result import StudyResult
from pipeline.models.evaluate import METRIC_FUNCTIONS
from pipeline.models.predict import predict
from pipeline.models.promotion import decide_promotion
from pipeline.models.train import TimeSplit, known_labels, split_by_time, train_model
from pipeline.monitoring.estimate import estimate_performance, fit_calibrator
from pipeline.monitoring.performance import realized_performance
from pipeline.monitoring.trigger import TriggerEvidence, decide_retrain
from pipeline.schedule import CUTOFF_COLUMN

log = logging.getLogger(__name__)

# policy -> (retrain schedule, promotion rule override or None for the configured gate)
POLICY_SPECS: dict[str, tuple[str, str | None]] = {
    "never": ("never", None),
    "monthly": ("monthly", None),
    "weekly": ("weekly", None),
    "weekly_improvement": ("weekly", "improvement"),
    "monitor": ("monitor", None),
}
POLICIES = tuple(POLICY_SPECS)
DEFAULT_OUT = PROJECT_ROOT / ".local" / "study"
TASK = "binary_classification"  # the study compares classifiers by realized ROC AUC
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class FittedModel:
    """A model trained as of ``cutoff`` (its retrain run's cutoff, the end of its holdout)."""

    cutoff: dt.datetime
    estimator: Any
    holdout: np.ndarray  # positions of its holdout rows in the replay's (sorted) feature table
    y_holdout: np.ndarray  # their labels, int64 0/1
    holdout_scores: np.ndarray  # its scores on them, float64
    holdout_metric: float  # the promotion metric on them
    fit_seconds: float  # wall seconds of the fit

    @property
    def name(self) -> str:
        """The local date it was trained as of, which identifies it in the results."""
        return self.cutoff.date().isoformat()


def scheduled_retrain(schedule: str, cutoff: dt.datetime) -> bool:
    """Whether a scheduled policy retrains as of ``cutoff`` (a local midnight): ``monthly`` on the 1st,
    ``weekly`` on Sundays (the ``@weekly`` schedule's ticks)."""
    return (schedule == "monthly" and cutoff.day == 1) or (schedule == "weekly" and cutoff.weekday() == 6)


def extraction_window(cfg: PipelineConfig, start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The entity timestamps the replay of ``[start, end)`` needs: from the first model's training
    window start (``window_days + holdout_days`` before ``start``) to ``end``."""
    return start - dt.timedelta(days=cfg.training.window_days + cfg.training.holdout_days), end


@dataclass
class _PolicyState:
    name: str
    schedule: str
    promotion: Any  # the promotion config section its gate uses
    champion: FittedModel
    scores: np.ndarray  # score of each row of the table (NaN: not scored by this policy)
    scored_by: np.ndarray  # index into the replay's models of the model that scored each row (-1: none)
    pending: int  # first row position not scored yet
    last_trigger: dt.datetime | None = None
    events: list[dict] = field(default_factory=list)


class _Replay:
    """The replay's state: the sorted feature table, its time indexes, the fitted models (one per
    retrain cutoff, shared by the policies)."""

    def __init__(self, frame: pd.DataFrame, cfg: PipelineConfig, start: dt.datetime, end: dt.datetime):
        ds = cfg.dataset
        self.cfg, self.ds, self.start, self.end = cfg, ds, start, end
        self.metric = cfg.promotion_metric
        frame = frame.sort_values(ds.timestamp, kind="stable").reset_index(drop=True)
        self.frame = frame
        self.ts = pd.DatetimeIndex(frame[ds.timestamp])
        self.as_of = pd.DatetimeIndex(frame[CUTOFF_COLUMN])
        self.y = frame[ds.label].astype("float64").to_numpy()  # NaN: the label never arrived
        _check_cutoffs(self.ts, self.as_of, cfg)
        self.lo, self.hi = self.as_of.searchsorted(start), self.as_of.searchsorted(end)
        self.models: dict[dt.datetime, FittedModel] = {}
        self.model_ids: dict[dt.datetime, int] = {}
        self.champion_on: dict[tuple[dt.datetime, dt.datetime], np.ndarray] = {}
        self.clock = dict.fromkeys(("score_seconds", "gate_seconds", "monitor_seconds"), 0.0)

    def model_as_of(self, cutoff: dt.datetime) -> FittedModel:
        """The challenger trained as of ``cutoff``, fitted once (cached)."""
        if cutoff not in self.models:
            ds, split = self.ds, TimeSplit.ending_at(cutoff, self.cfg.training)
            a, b = self.ts.searchsorted(split.train_start), self.ts.searchsorted(split.holdout_end)
            known = known_labels(self.frame.iloc[a:b], ds, cutoff)  # labels observed before the cutoff only
            train, holdout = split_by_time(known, split, ds, TASK)
            began = time.perf_counter()
            estimator = train_model(train, self.cfg.model, ds)
            seconds = time.perf_counter() - began
            y = holdout[ds.label].to_numpy()
            scores = predict(estimator, holdout, ds, TASK)
            metric = float(METRIC_FUNCTIONS[self.metric](y, scores))
            self.models[cutoff] = FittedModel(cutoff, estimator, holdout.index.to_numpy(), y, scores, metric, seconds)
            self.model_ids[cutoff] = len(self.model_ids)
            log.info(
                "model as of %s: %d training rows, holdout %s %.4f, fit %.1f s",
                cutoff,
                len(train),
                self.metric,
                metric,
                seconds,
            )
        return self.models[cutoff]

    def flush(self, state: _PolicyState, until: dt.datetime) -> None:
        """Score, with the policy's current champion, the rows not scored yet whose cutoff is before ``until``."""
        stop = min(max(int(self.as_of.searchsorted(until)), self.lo), self.hi)
        if stop > state.pending:
            began = time.perf_counter()
            rows = self.frame.iloc[state.pending : stop]
            state.scores[state.pending : stop] = predict(state.champion.estimator, rows, self.ds, TASK)
            state.scored_by[state.pending : stop] = self.model_ids[state.champion.cutoff]
            state.pending = stop
            self.clock["score_seconds"] += time.perf_counter() - began

    def retrain(self, state: _PolicyState, cutoff: dt.datetime, reasons: list[str]) -> None:
        """Train (or reuse) the challenger as of ``cutoff``, gate it against the champion on its holdout,
        and make it the champion when promoted; record the event."""
        challenger, champion = self.model_as_of(cutoff), state.champion
        began = time.perf_counter()
        key = (champion.cutoff, cutoff)
        if key not in self.champion_on:
            self.champion_on[key] = predict(champion.estimator, self.frame.iloc[challenger.holdout], self.ds, TASK)
        champion_scores = self.champion_on[key]
        gate = decide_promotion(
            state.promotion, self.cfg.task, challenger.y_holdout, challenger.holdout_scores, champion_scores, seed=0
        )
        self.clock["gate_seconds"] += time.perf_counter() - began
        state.events.append(
            {
                "policy": state.name,
                "cutoff": cutoff,
                "challenger": challenger.name,
                "champion": champion.name,
                "promoted": bool(gate.promote),
                "reasons": reasons,
                "gate_reason": gate.reason,
                "gate": _jsonable(gate.to_dict()),
                "challenger_holdout": challenger.holdout_metric,
                "champion_on_holdout": float(METRIC_FUNCTIONS[self.metric](challenger.y_holdout, champion_scores)),
                "holdout_rows": int(challenger.y_holdout.size),
                "fit_seconds": challenger.fit_seconds,
            }
        )
        if gate.promote:
            self.flush(state, cutoff)  # what the old champion scored stays its
            state.champion = challenger

    def monitor(self, state: _PolicyState, cutoff: dt.datetime) -> dict:
        """The monitor's decision as of ``cutoff`` for ``state``'s policy (see the module docstring)."""
        self.flush(state, cutoff)
        began = time.perf_counter()
        mon = self.cfg.monitoring
        days = mon.trigger.performance_window_days
        a, b = self.ts.searchsorted(cutoff - dt.timedelta(days=days)), self.ts.searchsorted(cutoff)
        scores = state.scores[a:b]
        labels = known_labels(self.frame.iloc[a:b], self.ds, cutoff)[self.ds.label].astype("float64").to_numpy()
        usable = ~np.isnan(scores) & ~np.isnan(labels)
        y, s = labels[usable], scores[usable]
        realized = float(METRIC_FUNCTIONS[self.metric](y, s)) if np.unique(y).size == 2 else None
        evidence = TriggerEvidence(
            metric=self.metric,
            realized=realized,
            labelled_rows=int(usable.sum()),
            champion_holdout=state.champion.holdout_metric,
            champion_cutoff=state.champion.cutoff,
        )
        decision = decide_retrain(evidence, mon, state.last_trigger, cutoff)
        self.clock["monitor_seconds"] += time.perf_counter() - began
        return {
            "day": cutoff.date(),
            "champion": state.champion.name,
            "champion_holdout": state.champion.holdout_metric,
            "realized": realized,
            "labelled_rows": int(usable.sum()),
            "retrain": bool(decision.retrain),
            "suppressed": bool(decision.suppressed),
            "reasons": list(decision.reasons),
        }


def _check_cutoffs(ts: pd.DatetimeIndex, as_of: pd.DatetimeIndex, cfg: PipelineConfig) -> None:
    """Every row's ``as_of`` must be the cutoff rule's: ``as_of + lead <= timestamp < as_of + lead + horizon``."""
    rule = cfg.cutoff_rule
    lead, horizon = pd.Timedelta(rule.lead), pd.Timedelta(rule.horizon)
    bad = ~((as_of + lead <= ts) & (ts < as_of + lead + horizon))
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} feature-table rows have an {CUTOFF_COLUMN} that is not their cutoff under the model's "
            f"rule (lead {rule.lead}, horizon {rule.horizon}); first: timestamp {ts[bad][0]}, {CUTOFF_COLUMN} "
            f"{as_of[bad][0]}"
        )


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: dates and datetimes as ISO strings, numpy scalars and arrays as
    Python ones, NaN and NaT as None."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if value is None or value is pd.NaT or (isinstance(value, float | np.floating) and np.isnan(value)):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value if isinstance(value, str | int | float | bool) else str(value)


def _records(frame: pd.DataFrame) -> list[dict]:
    """A result table as JSON-able records (see :func:`_jsonable`)."""
    return _jsonable(frame.to_dict("records"))


def replay(
    frame: pd.DataFrame, cfg: PipelineConfig, start: dt.datetime, end: dt.datetime, policies: Sequence[str] = POLICIES
) -> StudyResult:
    """Replay ``[start, end)`` for each policy (see the module docstring).

    Args:
        frame: the feature table with labels (:func:`extract_feature_table` with ``cfg.cutoff_rule`` and
            ``require_label=True``) covering :func:`extraction_window`: the key, timestamp (tz-aware),
            ``as_of``, feature, label (0/1, null when it never arrived) and ``dataset.label_known_at``
            (tz-aware, null with the label) columns.
        cfg: the pipeline config; its ``dataset``, ``model``, ``training``, ``promotion``,
            ``monitoring``, ``schedule`` and ``predictions`` sections are used.
        start, end: midnights in ``schedule.timezone``, ``start < end``; the first model is trained as
            of ``start``, the last predict cutoff is the last tick before ``end``.
        policies: a subset of :data:`POLICIES`.

    Returns:
        The :class:`StudyResult`.

    Raises:
        ValueError: an unknown policy; ``start``/``end`` not local midnights in order; a row's
            ``as_of`` that is not its cutoff under ``cfg.cutoff_rule``.
        TrainingDataError: a training window or holdout has no labelled rows.
    """
    unknown = sorted(set(policies) - set(POLICIES))
    if unknown or not policies:
        raise ValueError(f"policies must be some of {list(POLICIES)}, got {list(policies)}")
    tz = ZoneInfo(cfg.schedule.timezone)
    for t in (start, end):
        local = t.astimezone(tz) if t.tzinfo else t
        if t.tzinfo is None or local != local.replace(hour=0, minute=0, second=0, microsecond=0):
            raise ValueError(f"start and end must be timezone-aware midnights in {cfg.schedule.timezone}, got {t}")
    if start >= end:
        raise ValueError(f"start {start} is not before end {end}")
    start, end = start.astimezone(tz), end.astimezone(tz)
    began = time.perf_counter()
    r = _Replay(frame, cfg, start, end)
    first = r.model_as_of(start)
    states = []
    for name in policies:
        schedule, rule = POLICY_SPECS[name]
        promotion = cfg.promotion if rule is None else cfg.promotion.model_copy(update={"rule": rule})
        n = len(r.frame)
        states.append(_PolicyState(name, schedule, promotion, first, np.full(n, np.nan), np.full(n, -1), r.lo))
    decisions = []
    for day in _local_days(start, end)[1:]:
        if day.day == 1:  # progress: the month that just ended
            for state in states:
                r.flush(state, day)
            _log_month(r, states, day - DAY, time.perf_counter() - began)
        for state in states:
            if state.schedule == "monitor":
                decision = r.monitor(state, day)
                decisions.append(decision)
                if decision["retrain"]:
                    state.last_trigger = day
                    r.retrain(state, day, decision["reasons"])
            elif scheduled_retrain(state.schedule, day):
                r.retrain(state, day, [f"scheduled: {state.schedule}"])
    for state in states:
        r.flush(state, end)
    _log_month(r, states, end - DAY, time.perf_counter() - began)
    timings = r.clock | {
        "replay_seconds": time.perf_counter() - began,
        "unique_fits": len(r.models),
        "fit_seconds_unique": sum(m.fit_seconds for m in r.models.values()),
    }
    return _result(r, states, first, decisions, timings)


def _local_days(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The local midnights in ``[start, end)`` (calendar days: DST-safe)."""
    tz, days, day = start.tzinfo, [], start.date()
    while (midnight := dt.datetime.combine(day, dt.time(), tz)) < end:
        days.append(midnight)
        day += DAY
    return days


def _log_month(r: _Replay, states: list[_PolicyState], last_day: dt.datetime, elapsed: float) -> None:
    month_start = dt.datetime.combine(last_day.date().replace(day=1), dt.time(), last_day.tzinfo)
    a, b = r.as_of.searchsorted(month_start), r.as_of.searchsorted(last_day + DAY)
    for state in states:
        s, y = state.scores[a:b], r.y[a:b]
        ok = ~np.isnan(s) & ~np.isnan(y)
        auc = METRIC_FUNCTIONS["roc_auc"](y[ok], s[ok]) if np.unique(y[ok]).size == 2 else float("nan")
        count = sum(e["cutoff"] >= month_start for e in state.events)
        log.info(
            "%s %-18s ROC AUC %.4f, %d retrain(s); elapsed %.0f s",
            month_start.strftime("%Y-%m"),
            state.name,
            auc,
            count,
            elapsed,
        )


def _result(
    r: _Replay, states: list[_PolicyState], first: FittedModel, decisions: list[dict], timings: dict
) -> StudyResult:
    ds, tz = r.ds, r.start.tzinfo
    models = list(r.models.values())  # in the order of their ids
    names = np.array([m.name for m in models])
    cutoffs = pd.DatetimeIndex([m.cutoff for m in models]).tz_convert("UTC")
    rows = r.frame.iloc[r.lo : r.hi]
    day = pd.Series(r.as_of[r.lo : r.hi].tz_convert(tz).date, index=rows.index)
    frames = []
    for state in states:
        ids = state.scored_by[r.lo : r.hi]
        frames.append(
            pd.DataFrame(
                {
                    **{k: rows[k].to_numpy() for k in ds.key},
                    ds.timestamp: rows[ds.timestamp].to_numpy(),
                    CUTOFF_COLUMN: rows[CUTOFF_COLUMN].to_numpy(),
                    "score": state.scores[r.lo : r.hi],
                    ds.label: rows[ds.label].array,
                    "policy": state.name,
                    "day": day.to_numpy(),
                    "model": names[ids],
                    "model_cutoff": cutoffs[ids],
                }
            )
        )
    predictions = pd.concat(frames, ignore_index=True)
    daily = realized_performance(predictions, ds.label, TASK, "score", by=["policy", "day"])
    daily = daily.merge(_estimates(r, predictions), on=["policy", "day"], how="left")
    monthly = realized_performance(
        predictions.assign(month=pd.to_datetime(predictions["day"]).dt.strftime("%Y-%m")),
        ds.label,
        TASK,
        "score",
        by=["policy", "month"],
    )
    events = pd.DataFrame(
        [e for s in states for e in s.events],
        columns=[
            "policy",
            "cutoff",
            "challenger",
            "champion",
            "promoted",
            "reasons",
            "gate_reason",
            "gate",
            "challenger_holdout",
            "champion_on_holdout",
            "holdout_rows",
            "fit_seconds",
        ],
    )
    summary = []
    for state in states:
        mine = predictions[predictions["policy"] == state.name]
        pooled = realized_performance(mine, ds.label, TASK, "score", by=())
        summary.append(
            {
                "policy": state.name,
                "retrains": len(state.events),
                "promotions": sum(e["promoted"] for e in state.events),
                "train_seconds": first.fit_seconds + sum(e["fit_seconds"] for e in state.events),
                "pooled_roc_auc": float(pooled["roc_auc"].iloc[0]),
                "mean_daily_roc_auc": float(daily.loc[daily["policy"] == state.name, "roc_auc"].mean()),
            }
        )
    decisions = pd.DataFrame(
        decisions,
        columns=[
            "day",
            "champion",
            "champion_holdout",
            "realized",
            "labelled_rows",
            "retrain",
            "suppressed",
            "reasons",
        ],
    )
    return StudyResult(predictions, daily, monthly, events, decisions, pd.DataFrame(summary), timings)


def _estimates(r: _Replay, predictions: pd.DataFrame) -> pd.DataFrame:
    """CBPE: the ``monitor`` policy's estimated ROC AUC per day, from its scores and the calibrator of
    the champion that made them (fitted on that champion's holdout); columns ``policy``, ``day``,
    ``estimated_roc_auc``."""
    mine = predictions[predictions["policy"] == "monitor"]
    calibrators, rows = {}, []
    for (day, model), group in mine.groupby(["day", "model"], sort=True):
        if model not in calibrators:
            m = next(m for m in r.models.values() if m.name == model)
            calibrators[model] = fit_calibrator(m.holdout_scores, m.y_holdout)
        estimate = estimate_performance(group["score"].to_numpy(), calibrators[model])
        rows.append({"policy": "monitor", "day": day, "estimated_roc_auc": float(estimate["roc_auc"])})
    return pd.DataFrame(rows, columns=["policy", "day", "estimated_roc_auc"])


def markdown_table(result: StudyResult) -> str:
    """The result table in Markdown: one row per policy with its retrains (promoted), training seconds,
    pooled and mean daily ROC AUC, then each month's pooled ROC AUC."""
    months = sorted(result.monthly["month"].unique())
    by_month = result.monthly.pivot(index="policy", columns="month", values="roc_auc")
    head = ["policy", "retrains (promoted)", "training s", "pooled AUC", "mean daily AUC", *months]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for row in result.summary.itertuples():
        cells = [row.policy, f"{row.retrains} ({row.promotions})", f"{row.train_seconds:.0f}"]
        cells += [f"{row.pooled_roc_auc:.4f}", f"{row.mean_daily_roc_auc:.4f}"]
        cells += [f"{by_month.loc[row.policy, m]:.4f}" for m in months]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def describe(cfg: PipelineConfig, start: dt.datetime, end: dt.datetime, policies: Sequence[str], rows: int) -> dict:
    """The run's settings for the report and ``results.json``: ``start``, ``end`` (ISO dates),
    ``timezone``, ``policies``, ``rows`` (feature-table rows), the cutoff rule (``lead``, ``horizon`` as
    ``"<n> h"``, and the scored ``window`` relative to each cutoff)
    and the ``model``, ``training``, ``promotion`` and ``monitoring`` config sections as dicts."""
    rule = cfg.cutoff_rule
    return {
        "start": start.date().isoformat(),
        "end": end.date().isoformat(),
        "timezone": cfg.schedule.timezone,
        "lead": _hours(rule.lead),
        "horizon": _hours(rule.horizon),
        "window": f"[cutoff + {_hours(rule.lead)}, cutoff + {_hours(rule.lead + rule.horizon)})",
        "policies": list(policies),
        "rows": rows,
        "model": cfg.model.model_dump(),
        "training": cfg.training.model_dump(),
        "promotion": cfg.promotion.model_dump(),
        "monitoring": cfg.monitoring.model_dump(),
    }


def _hours(duration: dt.timedelta) -> str:
    return f"{duration.total_seconds() / 3600:g} h"


def save(result: StudyResult, out: Path, meta: dict) -> Path:
    """Write ``results.json`` (meta, timings, table, summary, monthly, daily, events, decisions; no
    per-flight predictions) and the HTML report with its PNGs into ``out``. Returns the report's path."""
    from pipeline.visualization.study_report import write_report

    out.mkdir(parents=True, exist_ok=True)
    tables = {name: _records(getattr(result, name)) for name in ("summary", "monthly", "daily", "events", "decisions")}
    doc = {"meta": meta, "timings": result.timings, "table": markdown_table(result), **tables}
    (out / "results.json").write_text(json.dumps(doc, indent=2, default=str))
    return write_report(result, out, meta, markdown_table(result))


def run(
    cfg: PipelineConfig, out: Path, start: dt.datetime, end: dt.datetime, policies: Sequence[str], threads: int = 1
) -> str:
    """``pipeline study``: extract the feature table from the warehouse once, replay, write the report
    into ``out``, and return the result table (Markdown).

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

    began, cpu = time.perf_counter(), time.process_time()
    lo, hi = extraction_window(cfg, start, end)
    frame = extract_feature_table(open_warehouse(cfg), cfg.dataset, cfg.cutoff_rule, lo, hi, require_label=True)
    extracted = time.perf_counter() - began
    log.info(
        "extracted %d rows for [%s, %s) in %.1f s; replaying %s", len(frame), lo, hi, extracted, ", ".join(policies)
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
    result.timings["total_cpu_seconds"] = time.process_time() - cpu  # this process's CPU: wall time without the queue
    (out / "results.json").write_text(
        json.dumps(json.loads((out / "results.json").read_text()) | {"timings": result.timings}, indent=2, default=str)
    )
    log.info("report: %s (total %.0f s)", report, result.timings["total_seconds"])
    return markdown_table(result)
