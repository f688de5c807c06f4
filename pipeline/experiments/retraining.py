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
- **Labels: known by their use** (:func:`known_labels`, the rule of every stage). A row's label is usable
  at time t only when ``label_known_at <= t``: a retrain cut off at R trains and evaluates on the rows
  whose label was known by R; the monitor as of R measures realized performance on those only. The
  study's own scores (pooled, daily and monthly ROC AUC) use every label that ever arrived.
- **Scoring.** Each predict cutoff T (every tick of the cutoff rule in ``[start, end)``) scores the
  entities of ``cfg.cutoff_rule.window(T)`` (the rows whose ``as_of`` is T) with the policy's champion
  at T: the model promoted at its latest retrain cutoff R <= T (a retrain as of R uses no data from R
  on, so the predict run cut off at R may use it). The rows between two champion changes are scored
  in one call, which gives the same scores as one call per cutoff.
- **Retraining.** Retrain cutoffs R are midnights in ``schedule.timezone`` (New York for the demo).
  A retrain as of R is the retrain stage's: a challenger is trained (:func:`train_model`) on the
  labelled rows stamped in ``[R - window_days - holdout_days, R - holdout_days)``, evaluated with the
  champion on the holdout ``[R - holdout_days, R)`` (labels known by R in both), and the promotion
  gate (``decide_promotion`` with the model's ``promotion`` section) decides; the champion changes
  only when the challenger is promoted. Every policy uses the configured gate (the noninferiority rule
  by default) except ``weekly_improvement``, which uses the old "promote if better" rule
  (``promotion.rule: improvement``) on the weekly schedule.
- **Policies** (:class:`Policy`). ``never``: the first model only, trained as of ``start`` (every policy
  starts from it). ``monthly``: the 1st of each month. ``weekly`` and ``weekly_improvement``: Sundays,
  the ``@weekly`` retrain schedule's ticks. ``monitor``: each midnight after ``start``, the monitor's
  decision as of that midnight: ``decide_retrain`` with the real ``monitoring`` config on the policy's
  own predictions stamped in the last ``monitoring.trigger.performance_window_days`` whose labels were
  known by R (pooled, whichever champion made them, as the monitor pools live predictions), the
  champion's own holdout metric, its age (from its holdout end) and the cooldown. The drift triggers
  (off by default) are not replayed. Besides these five, a policy can retrain every N days from the
  replay's start (:func:`calendar_policy`), or be the monitor with other trigger parameters
  (:func:`monitor_policy`) or with the margin taken, at each decision, from the champion's holdout by
  the bootstrap (:func:`bootstrap_policy`, :func:`pipeline.monitoring.trigger.bootstrap_margin`).
- **Performance before labels (CBPE).** For the ``monitor`` policy, each day's ROC AUC is also
  estimated from the scores alone (``estimate_performance``, with a calibrator fitted on the scoring
  champion's own holdout: ``fit_calibrator``), next to the realized one.
- **Shared fits.** Training is deterministic (fixed seed), so a challenger trained as of R is fitted
  once and its wall seconds charged to every policy that trains as of R; a :class:`ReplayTable` keeps
  the fits for every replay of the same table (the out-of-sample replays reuse the full replay's).
  Fits run with one native thread each (``threadpoolctl``; the caller sets it).
- **Out of sample** (:mod:`pipeline.experiments.out_of_sample`). The monitor's trigger parameters were
  tuned on the replay that reports them, so :func:`run` also splits the span at ``split``: a small grid
  of trigger parameters is replayed on ``[start, split)`` and the best chosen; then ``[split, end)`` is
  replayed from a model trained as of ``split`` with ``weekly``, ``monthly``, the chosen trigger, the
  parameter-free bootstrap margin, and for each of those two a calendar policy of equal cost.

A "day" of the results is the local date (``schedule.timezone``) of the predict cutoff that made the
prediction, so one day's predictions come from one champion. Not replayed: Airflow, the expectation
suites, the registry and artifact I/O, drift monitoring: the stages' bookkeeping, not their decisions.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from pipeline.config import PROJECT_ROOT, MonitoringConfig, PipelineConfig, TriggerConfig
from pipeline.experiments.result import OutOfSampleResult, StudyResult
from pipeline.models.evaluate import METRIC_FUNCTIONS
from pipeline.models.predict import predict
from pipeline.models.promotion import decide_promotion
from pipeline.models.train import TimeSplit, known_labels, split_by_time, train_model
from pipeline.monitoring.estimate import estimate_performance, fit_calibrator
from pipeline.monitoring.performance import realized_performance
from pipeline.monitoring.trigger import TriggerEvidence, bootstrap_margin, decide_retrain
from pipeline.schedule import CUTOFF_COLUMN

log = logging.getLogger(__name__)

SCHEDULES = ("never", "monthly", "weekly", "every", "monitor")
DEFAULT_OUT = PROJECT_ROOT / ".local" / "study"
TASK = "binary_classification"  # the study compares classifiers by realized ROC AUC
DAY = dt.timedelta(days=1)
BOOTSTRAP_SEED = 0  # seeds every bootstrap margin (bootstrap_policy): the same replay gives the same margins


@dataclass(frozen=True)
class Policy:
    """A retraining policy of the replay.

    - ``name``: its id in the results, unique within a replay; ``label``: how tables show it (default
      the name);
    - ``schedule``: ``never``; ``monthly`` (the 1st); ``weekly`` (Sundays, the ``@weekly`` ticks);
      ``every`` (every ``every_days`` days from the replay's start: start + N, start + 2N, ...);
      ``monitor`` (each midnight after the start, :func:`decide_retrain`);
    - ``promotion_rule``: a ``promotion.rule`` that replaces the configured one (None: the configured
      gate);
    - ``trigger`` (monitor only): values that replace the ``monitoring.trigger`` config's (``margin``,
      ``max_age_days``, ...; validated as :class:`~pipeline.config.TriggerConfig`);
    - ``bootstrap_margin`` (monitor only): the margin of each decision is
      :func:`~pipeline.monitoring.trigger.bootstrap_margin` of the champion's holdout at the realized
      window's labelled rows, with ``promotion.confidence`` and ``promotion.bootstrap_samples``, instead
      of ``trigger.margin``.

    Raises:
        ValueError: an unknown schedule, ``every_days`` missing (or below 1) with ``every`` or given
            without it, trigger settings on a calendar policy, an unknown trigger field.
    """

    name: str
    schedule: str
    every_days: int | None = None
    promotion_rule: str | None = None
    trigger: Mapping[str, Any] = field(default_factory=dict)
    bootstrap_margin: bool = False
    label: str = ""

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"policy {self.name}: schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if (self.schedule == "every") != (self.every_days is not None) or (self.every_days or 1) < 1:
            raise ValueError(f"policy {self.name}: every_days (>= 1) goes with schedule 'every', and only with it")
        if self.schedule != "monitor" and (self.trigger or self.bootstrap_margin):
            raise ValueError(f"policy {self.name}: trigger settings need schedule 'monitor'")
        unknown = set(self.trigger) - set(TriggerConfig.model_fields)
        if unknown:
            raise ValueError(f"policy {self.name}: unknown trigger fields {sorted(unknown)}")

    @property
    def display(self) -> str:
        """The label, or the name."""
        return self.label or self.name

    def retrains_on(self, day: dt.datetime, start: dt.datetime) -> bool:
        """Whether a calendar policy retrains as of ``day`` (a local midnight after ``start``, the
        replay's first day); always False for ``never`` and ``monitor``."""
        if self.schedule == "monthly":
            return day.day == 1
        if self.schedule == "weekly":
            return day.weekday() == 6
        if self.schedule == "every":
            return (day.date() - start.date()).days % self.every_days == 0
        return False

    def monitoring(self, cfg: PipelineConfig) -> MonitoringConfig:
        """``cfg.monitoring`` with this policy's trigger values (validated).

        Raises:
            pydantic.ValidationError: a trigger value out of range.
        """
        if not self.trigger:
            return cfg.monitoring
        trigger = TriggerConfig.model_validate(cfg.monitoring.trigger.model_dump() | dict(self.trigger))
        return cfg.monitoring.model_copy(update={"trigger": trigger})


BASE_POLICIES: dict[str, Policy] = {
    p.name: p
    for p in (
        Policy("never", "never"),
        Policy("monthly", "monthly"),
        Policy("weekly", "weekly"),
        Policy("weekly_improvement", "weekly", promotion_rule="improvement"),
        Policy("monitor", "monitor"),
    )
}
POLICIES = tuple(BASE_POLICIES)  # the full replay's policies, by name


def age_label(days: int | None) -> str:
    """A maximum age for a policy's name and label: the days (``"21"``), or ``"none"`` for no age trigger."""
    return "none" if days is None else f"{days:g}"


def monitor_policy(name: str, margin: float, max_age_days: int | None) -> Policy:
    """The monitor policy with trigger ``margin`` (the metric's units) and ``max_age_days`` (None: no
    age trigger), the rest of ``monitoring`` as configured; labelled ``monitor (margin M, max age A)``."""
    label = f"monitor (margin {margin:g}, max age {age_label(max_age_days)})"
    return Policy(name, "monitor", trigger={"margin": margin, "max_age_days": max_age_days}, label=label)


def bootstrap_policy(cfg: PipelineConfig, name: str = "monitor_bootstrap") -> Policy:
    """The monitor policy without a margin parameter: each decision's margin is the bootstrap's
    (:func:`~pipeline.monitoring.trigger.bootstrap_margin`); the rest of ``monitoring`` as configured."""
    label = f"monitor (bootstrap margin, max age {age_label(cfg.monitoring.trigger.max_age_days)})"
    return Policy(name, "monitor", bootstrap_margin=True, label=label)


def calendar_policy(days: int, equal_cost_to: Sequence[str] = ()) -> Policy:
    """Retrain every ``days`` days from the replay's start, named ``every_<days>_days``; the label names
    the policies whose cost (retrain count) it matches, if any."""
    label = f"every {days} days" + (f" (cost of {', '.join(equal_cost_to)})" if equal_cost_to else "")
    return Policy(f"every_{days}_days", "every", every_days=days, label=label)


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


def extraction_window(cfg: PipelineConfig, start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The entity timestamps the replay of ``[start, end)`` needs: from the first model's training
    window start (``window_days + holdout_days`` before ``start``) to ``end``."""
    return start - dt.timedelta(days=cfg.training.window_days + cfg.training.holdout_days), end


class ReplayTable:
    """A study's feature table, sorted by timestamp, with its time indexes and what is computed from it
    whatever the span or policy: the models (one per retrain cutoff) and a champion's scores on a
    challenger's holdout. Fits are deterministic, so every replay of the table shares them
    (:func:`replay` accepts a ReplayTable in place of the frame).

    Args:
        frame: as :func:`replay`'s.
        cfg: the pipeline config; every replay of the table must use the same.

    Raises:
        ValueError: a row's ``as_of`` that is not its cutoff under ``cfg.cutoff_rule``.
    """

    def __init__(self, frame: pd.DataFrame, cfg: PipelineConfig):
        ds = cfg.dataset
        self.cfg, self.ds, self.metric = cfg, ds, cfg.promotion_metric
        self.frame = frame.sort_values(ds.timestamp, kind="stable").reset_index(drop=True)
        self.ts = pd.DatetimeIndex(self.frame[ds.timestamp])
        self.as_of = pd.DatetimeIndex(self.frame[CUTOFF_COLUMN])
        self.y = self.frame[ds.label].astype("float64").to_numpy()  # NaN: the label never arrived
        _check_cutoffs(self.ts, self.as_of, cfg)
        self.models: dict[dt.datetime, FittedModel] = {}
        self.model_ids: dict[dt.datetime, int] = {}
        self.champion_on: dict[tuple[dt.datetime, dt.datetime], np.ndarray] = {}

    def model_as_of(self, cutoff: dt.datetime) -> FittedModel:
        """The challenger trained as of ``cutoff``, fitted once (cached)."""
        if cutoff not in self.models:
            ds, split = self.ds, TimeSplit.ending_at(cutoff, self.cfg.training)
            a, b = self.ts.searchsorted(split.train_start), self.ts.searchsorted(split.holdout_end)
            known = known_labels(self.frame.iloc[a:b], ds, cutoff)  # labels observed by the cutoff only
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

    def champion_scores(self, champion: FittedModel, challenger: FittedModel) -> np.ndarray:
        """``champion``'s scores on ``challenger``'s holdout rows (cached)."""
        key = (champion.cutoff, challenger.cutoff)
        if key not in self.champion_on:
            self.champion_on[key] = predict(champion.estimator, self.frame.iloc[challenger.holdout], self.ds, TASK)
        return self.champion_on[key]


@dataclass
class _PolicyState:
    policy: Policy
    promotion: Any  # the promotion config section its gate uses
    monitoring: MonitoringConfig  # the monitoring config its trigger uses (monitor policies)
    champion: FittedModel
    scores: np.ndarray  # score of each row of the table (NaN: not scored by this policy)
    scored_by: np.ndarray  # index into the table's models of the model that scored each row (-1: none)
    pending: int  # first row position not scored yet
    last_trigger: dt.datetime | None = None
    events: list[dict] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.policy.name


class _Replay:
    """One replay of ``[start, end)`` over a :class:`ReplayTable`: the span's row positions, the models
    it used, the monitor windows' known labels (shared by its monitor policies) and its clocks."""

    def __init__(self, table: ReplayTable, start: dt.datetime, end: dt.datetime):
        self.table, self.start, self.end = table, start, end
        self.cfg, self.ds, self.metric = table.cfg, table.ds, table.metric
        self.frame, self.ts, self.as_of, self.y = table.frame, table.ts, table.as_of, table.y
        self.lo, self.hi = self.as_of.searchsorted(start), self.as_of.searchsorted(end)
        self.used: dict[dt.datetime, FittedModel] = {}  # the models this replay used, fitted here or before
        self.fitted_before = len(table.models)
        self.windows: dict[tuple[dt.datetime, int], tuple[int, int, np.ndarray]] = {}
        self.clock = dict.fromkeys(("score_seconds", "gate_seconds", "monitor_seconds"), 0.0)

    def model_as_of(self, cutoff: dt.datetime) -> FittedModel:
        """The challenger trained as of ``cutoff`` (:meth:`ReplayTable.model_as_of`)."""
        model = self.used[cutoff] = self.table.model_as_of(cutoff)
        return model

    def flush(self, state: _PolicyState, until: dt.datetime) -> None:
        """Score, with the policy's current champion, the rows not scored yet whose cutoff is before ``until``."""
        stop = min(max(int(self.as_of.searchsorted(until)), self.lo), self.hi)
        if stop > state.pending:
            began = time.perf_counter()
            rows = self.frame.iloc[state.pending : stop]
            state.scores[state.pending : stop] = predict(state.champion.estimator, rows, self.ds, TASK)
            state.scored_by[state.pending : stop] = self.table.model_ids[state.champion.cutoff]
            state.pending = stop
            self.clock["score_seconds"] += time.perf_counter() - began

    def retrain(self, state: _PolicyState, cutoff: dt.datetime, reasons: list[str]) -> None:
        """Train (or reuse) the challenger as of ``cutoff``, gate it against the champion on its holdout,
        and make it the champion when promoted; record the event."""
        challenger, champion = self.model_as_of(cutoff), state.champion
        began = time.perf_counter()
        champion_scores = self.table.champion_scores(champion, challenger)
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

    def window(self, cutoff: dt.datetime, days: int) -> tuple[int, int, np.ndarray]:
        """The row positions ``[a, b)`` stamped in the ``days`` before ``cutoff`` and their labels as known
        by ``cutoff`` (float64, NaN: not known), the same for every monitor policy (cached)."""
        key = (cutoff, days)
        if key not in self.windows:
            self.windows = {k: v for k, v in self.windows.items() if k[0] == cutoff}  # one day's at a time
            a, b = self.ts.searchsorted(cutoff - dt.timedelta(days=days)), self.ts.searchsorted(cutoff)
            labels = known_labels(self.frame.iloc[a:b], self.ds, cutoff)[self.ds.label].astype("float64").to_numpy()
            self.windows[key] = (a, b, labels)
        return self.windows[key]

    def monitor(self, state: _PolicyState, cutoff: dt.datetime) -> dict:
        """The monitor's decision as of ``cutoff`` for ``state``'s policy (see the module docstring), and
        the margin it used (for a bootstrap policy: None when the window has too few labelled rows for
        the performance rule, which then cannot fire)."""
        self.flush(state, cutoff)
        began = time.perf_counter()
        mon, champion = state.monitoring, state.champion
        a, b, labels = self.window(cutoff, mon.trigger.performance_window_days)
        scores = state.scores[a:b]
        usable = ~np.isnan(scores) & ~np.isnan(labels)
        y, s, rows = labels[usable], scores[usable], int(usable.sum())
        realized = float(METRIC_FUNCTIONS[self.metric](y, s)) if np.unique(y).size == 2 else None
        margin = mon.trigger.margin
        if state.policy.bootstrap_margin:
            margin = None
            if rows >= mon.trigger.min_labelled_rows:
                promotion = self.cfg.promotion
                margin = bootstrap_margin(
                    self.metric,
                    champion.y_holdout,
                    champion.holdout_scores,
                    rows,
                    promotion.confidence,
                    promotion.bootstrap_samples,
                    BOOTSTRAP_SEED,
                )
                mon = mon.model_copy(update={"trigger": mon.trigger.model_copy(update={"margin": margin})})
        evidence = TriggerEvidence(
            metric=self.metric,
            realized=realized,
            labelled_rows=rows,
            champion_holdout=champion.holdout_metric,
            champion_cutoff=champion.cutoff,
        )
        decision = decide_retrain(evidence, mon, state.last_trigger, cutoff)
        self.clock["monitor_seconds"] += time.perf_counter() - began
        return {
            "policy": state.name,
            "day": cutoff.date(),
            "champion": champion.name,
            "champion_holdout": champion.holdout_metric,
            "realized": realized,
            "labelled_rows": rows,
            "margin": margin,
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


def local_midnights(cfg: PipelineConfig, *times: dt.datetime) -> list[dt.datetime]:
    """``times`` in ``schedule.timezone``.

    Raises:
        ValueError: a time that is naive or not a local midnight.
    """
    tz = ZoneInfo(cfg.schedule.timezone)
    for t in times:
        local = t.astimezone(tz) if t.tzinfo else t
        if t.tzinfo is None or local != local.replace(hour=0, minute=0, second=0, microsecond=0):
            raise ValueError(f"start and end must be timezone-aware midnights in {cfg.schedule.timezone}, got {t}")
    return [t.astimezone(tz) for t in times]


def _policies(policies: Sequence[str | Policy]) -> list[Policy]:
    """Names of :data:`BASE_POLICIES` resolved; :class:`Policy` objects as they are.

    Raises:
        ValueError: none, an unknown name or two policies of one name.
    """
    unknown = [p for p in policies if isinstance(p, str) and p not in BASE_POLICIES]
    if unknown or not policies:
        raise ValueError(f"policies must be some of {list(POLICIES)} (or Policy objects), got {list(policies)}")
    resolved = [BASE_POLICIES[p] if isinstance(p, str) else p for p in policies]
    names = [p.name for p in resolved]
    if len(set(names)) < len(names):
        raise ValueError(f"policy names must be unique, got {names}")
    return resolved


def replay(
    frame: pd.DataFrame | ReplayTable,
    cfg: PipelineConfig,
    start: dt.datetime,
    end: dt.datetime,
    policies: Sequence[str | Policy] = POLICIES,
) -> StudyResult:
    """Replay ``[start, end)`` for each policy (see the module docstring).

    Args:
        frame: the feature table with labels (:func:`extract_feature_table` with ``cfg.cutoff_rule`` and
            ``require_label=True``) covering :func:`extraction_window`: the key, timestamp (tz-aware),
            ``as_of``, feature, label (0/1, null when it never arrived) and ``dataset.label_known_at``
            (tz-aware, null with the label) columns; or a :class:`ReplayTable` of it, whose fits the
            replay reuses and adds to.
        cfg: the pipeline config; its ``dataset``, ``model``, ``training``, ``promotion``,
            ``monitoring``, ``schedule`` and ``predictions`` sections are used.
        start, end: midnights in ``schedule.timezone``, ``start < end``; the first model is trained as
            of ``start``, the last predict cutoff is the last tick before ``end``.
        policies: names of :data:`BASE_POLICIES` (default: all five) and :class:`Policy` objects.

    Returns:
        The :class:`StudyResult`.

    Raises:
        ValueError: an unknown policy or two of one name; ``start``/``end`` not local midnights in
            order; a row's ``as_of`` that is not its cutoff under ``cfg.cutoff_rule``; a ReplayTable
            made with another config.
        TrainingDataError: a training window or holdout has no labelled rows.
        pydantic.ValidationError: a policy's trigger value out of range.
    """
    chosen = _policies(policies)
    start, end = local_midnights(cfg, start, end)
    if start >= end:
        raise ValueError(f"start {start} is not before end {end}")
    table = frame if isinstance(frame, ReplayTable) else ReplayTable(frame, cfg)
    if table.cfg != cfg:
        raise ValueError("the ReplayTable was made with another config than the replay's")
    began = time.perf_counter()
    r = _Replay(table, start, end)
    first = r.model_as_of(start)
    states = []
    for policy in chosen:
        rule = policy.promotion_rule
        promotion = cfg.promotion if rule is None else cfg.promotion.model_copy(update={"rule": rule})
        n = len(r.frame)
        scores, scored_by = np.full(n, np.nan), np.full(n, -1)
        states.append(_PolicyState(policy, promotion, policy.monitoring(cfg), first, scores, scored_by, r.lo))
    decisions = []
    for day in local_days(start, end)[1:]:
        if day.day == 1:  # progress: the month that just ended
            for state in states:
                r.flush(state, day)
            _log_month(r, states, day - DAY, time.perf_counter() - began)
        for state in states:
            if state.policy.schedule == "monitor":
                decision = r.monitor(state, day)
                decisions.append(decision)
                if decision["retrain"]:
                    state.last_trigger = day
                    r.retrain(state, day, decision["reasons"])
            elif state.policy.retrains_on(day, start):
                r.retrain(state, day, [f"scheduled: {state.policy.display}"])
    for state in states:
        r.flush(state, end)
    _log_month(r, states, end - DAY, time.perf_counter() - began)
    timings = r.clock | {
        "replay_seconds": time.perf_counter() - began,
        "unique_fits": len(r.used),
        "new_fits": len(table.models) - r.fitted_before,
        "fit_seconds_unique": sum(m.fit_seconds for m in r.used.values()),
    }
    return _result(r, states, first, decisions, timings)


def local_days(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The local midnights in ``[start, end)`` (calendar days: DST-safe)."""
    tz, days, day = start.tzinfo, [], start.date()
    while (midnight := dt.datetime.combine(day, dt.time(), tz)) < end:
        days.append(midnight)
        day += DAY
    return days


def _log_month(r: _Replay, states: list[_PolicyState], last_day: dt.datetime, elapsed: float) -> None:
    month_start = max(dt.datetime.combine(last_day.date().replace(day=1), dt.time(), last_day.tzinfo), r.start)
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


EVENT_COLUMNS = [
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
]
DECISION_COLUMNS = [
    "policy",
    "day",
    "champion",
    "champion_holdout",
    "realized",
    "labelled_rows",
    "margin",
    "retrain",
    "suppressed",
    "reasons",
]


def _result(
    r: _Replay, states: list[_PolicyState], first: FittedModel, decisions: list[dict], timings: dict
) -> StudyResult:
    ds, tz = r.ds, r.start.tzinfo
    models = list(r.table.models.values())  # in the order of their ids
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
    events = pd.DataFrame([e for s in states for e in s.events], columns=EVENT_COLUMNS)
    summary = []
    for state in states:
        mine = predictions[predictions["policy"] == state.name]
        pooled = realized_performance(mine, ds.label, TASK, "score", by=())
        summary.append(
            {
                "policy": state.name,
                "label": state.policy.display,
                "retrains": len(state.events),
                "promotions": sum(e["promoted"] for e in state.events),
                "train_seconds": first.fit_seconds + sum(e["fit_seconds"] for e in state.events),
                "pooled_roc_auc": float(pooled["roc_auc"].iloc[0]),
                "mean_daily_roc_auc": float(daily.loc[daily["policy"] == state.name, "roc_auc"].mean()),
            }
        )
    decisions = pd.DataFrame(decisions, columns=DECISION_COLUMNS)
    return StudyResult(predictions, daily, monthly, events, decisions, pd.DataFrame(summary), timings)


def _estimates(r: _Replay, predictions: pd.DataFrame) -> pd.DataFrame:
    """CBPE: the ``monitor`` policy's estimated ROC AUC per day, from its scores and the calibrator of
    the champion that made them (fitted on that champion's holdout); columns ``policy``, ``day``,
    ``estimated_roc_auc``."""
    mine = predictions[predictions["policy"] == "monitor"]
    calibrators, rows = {}, []
    for (day, model), group in mine.groupby(["day", "model"], sort=True):
        if model not in calibrators:
            m = next(m for m in r.table.models.values() if m.name == model)
            calibrators[model] = fit_calibrator(m.holdout_scores, m.y_holdout)
        estimate = estimate_performance(group["score"].to_numpy(), calibrators[model])
        rows.append({"policy": "monitor", "day": day, "estimated_roc_auc": float(estimate["roc_auc"])})
    return pd.DataFrame(rows, columns=["policy", "day", "estimated_roc_auc"])


def markdown_table(result: StudyResult) -> str:
    """The result table in Markdown: one row per policy (its label) with its retrains (promoted),
    training seconds, pooled and mean daily ROC AUC, then each month's pooled ROC AUC."""
    months = sorted(result.monthly["month"].unique())
    by_month = result.monthly.pivot(index="policy", columns="month", values="roc_auc")
    head = ["policy", "retrains (promoted)", "training s", "pooled AUC", "mean daily AUC", *months]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for row in result.summary.itertuples():
        cells = [row.label, f"{row.retrains} ({row.promotions})", f"{row.train_seconds:.0f}"]
        cells += [f"{row.pooled_roc_auc:.4f}", f"{row.mean_daily_roc_auc:.4f}"]
        cells += [f"{by_month.loc[row.policy, m]:.4f}" for m in months]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def describe(
    cfg: PipelineConfig,
    start: dt.datetime,
    end: dt.datetime,
    policies: Sequence[str | Policy],
    rows: int,
    split: dt.datetime | None = None,
    grid: Mapping[str, Sequence] | None = None,
) -> dict:
    """The run's settings for the report and ``results.json``: ``start``, ``end`` (ISO dates),
    ``timezone``, ``policies`` (names), ``rows`` (feature-table rows), the cutoff rule (``lead``,
    ``horizon`` as ``"<n> h"``, and the scored ``window`` relative to each cutoff) and the ``model``,
    ``training``, ``promotion`` and ``monitoring`` config sections as dicts; with a ``split``, also
    ``split``, ``selection_span`` and ``report_span`` (``[first day, end day)``, ISO dates), and with a
    ``grid`` too, ``selection_grid`` (its lists)."""
    rule = cfg.cutoff_rule
    meta = {
        "start": start.date().isoformat(),
        "end": end.date().isoformat(),
        "timezone": cfg.schedule.timezone,
        "lead": _hours(rule.lead),
        "horizon": _hours(rule.horizon),
        "window": f"[cutoff + {_hours(rule.lead)}, cutoff + {_hours(rule.lead + rule.horizon)})",
        "policies": [p if isinstance(p, str) else p.name for p in policies],
        "rows": rows,
        "model": cfg.model.model_dump(),
        "training": cfg.training.model_dump(),
        "promotion": cfg.promotion.model_dump(),
        "monitoring": cfg.monitoring.model_dump(),
    }
    if split is not None:
        meta |= {
            "split": split.date().isoformat(),
            "selection_span": [meta["start"], split.date().isoformat()],
            "report_span": [split.date().isoformat(), meta["end"]],
        }
    if split is not None and grid is not None:
        meta["selection_grid"] = {k: list(v) for k, v in grid.items()}
    return meta


def _hours(duration: dt.timedelta) -> str:
    return f"{duration.total_seconds() / 3600:g} h"


def save(result: StudyResult, out: Path, meta: dict, oos: OutOfSampleResult | None = None) -> Path:
    """Write ``results.json`` and the HTML report with its PNGs into ``out``. Returns the report's path.

    ``results.json`` holds ``meta``, ``timings``, ``table`` (Markdown), ``summary``, ``monthly``,
    ``daily``, ``events`` and ``decisions`` (no per-flight predictions); with ``oos``, also
    ``out_of_sample`` (:attr:`OutOfSampleResult.table`'s records: ``policy``, ``label``, ``retrains``,
    ``promotions``, ``train_seconds``, ``pooled_roc_auc``, ``mean_daily_roc_auc`` on the report span, and
    the parameters), ``out_of_sample_table`` (Markdown), ``out_of_sample_monthly``,
    ``out_of_sample_events``, ``out_of_sample_decisions`` and ``selection`` (the grid's records)."""
    from pipeline.visualization.study_report import write_report

    out.mkdir(parents=True, exist_ok=True)
    tables = {name: _records(getattr(result, name)) for name in ("summary", "monthly", "daily", "events", "decisions")}
    doc = {"meta": meta, "timings": result.timings, "table": markdown_table(result), **tables}
    if oos is not None:
        doc |= {
            "out_of_sample": _records(oos.table),
            "out_of_sample_table": markdown_table(oos.report),
            "out_of_sample_monthly": _records(oos.report.monthly),
            "out_of_sample_events": _records(oos.report.events),
            "out_of_sample_decisions": _records(oos.report.decisions),
            "selection": _records(oos.grid),
        }
    (out / "results.json").write_text(json.dumps(doc, indent=2, default=str))
    return write_report(result, out, meta, markdown_table(result), oos)


def run(
    cfg: PipelineConfig,
    out: Path,
    start: dt.datetime,
    end: dt.datetime,
    policies: Sequence[str],
    threads: int = 1,
    split: dt.datetime | None = None,
) -> str:
    """``pipeline study``: extract the feature table from the warehouse once, replay, then (with a
    ``split``) the out-of-sample part (:func:`pipeline.experiments.out_of_sample.out_of_sample`) on the
    same fits, write the report into
    ``out``, and return the result tables (Markdown; the out-of-sample one after a blank line).

    Args:
        threads: OpenMP/BLAS threads per fit (0: the libraries' default, every core).
        split: a local midnight strictly between ``start`` and ``end``, or None: no out-of-sample part.

    Raises:
        ValueError, TrainingDataError: as :func:`replay` and :func:`out_of_sample`.
        WarehouseError, LocalClusterError: the warehouse cannot be read.
    """
    from threadpoolctl import threadpool_limits

    from pipeline.experiments.out_of_sample import SELECTION_GRID, check_split, out_of_sample
    from pipeline.features.build import extract_feature_table
    from pipeline.stages.retrain import code_version
    from pipeline.stages.runtime import open_warehouse

    if split is not None:
        check_split(start, split, end)  # before the extraction, which takes minutes
    began, cpu = time.perf_counter(), time.process_time()
    lo, hi = extraction_window(cfg, start, end)
    frame = extract_feature_table(open_warehouse(cfg), cfg.dataset, cfg.cutoff_rule, lo, hi, require_label=True)
    extracted = time.perf_counter() - began
    log.info(
        "extracted %d rows for [%s, %s) in %.1f s; replaying %s", len(frame), lo, hi, extracted, ", ".join(policies)
    )
    with threadpool_limits(threads or None):
        table = ReplayTable(frame, cfg)
        result = replay(table, cfg, start, end, policies)
        oos = None if split is None else out_of_sample(table, cfg, start, split, end)
    result.timings["extract_seconds"] = extracted
    if oos is not None:
        result.timings |= {f"out_of_sample_{k}": v for k, v in oos.timings.items()}
    meta = describe(cfg, start, end, policies, len(frame), split, SELECTION_GRID) | {
        "code_version": code_version(),
        "threads": threads or "library default",
    }
    reporting = time.perf_counter()
    report = save(result, out, meta, oos)
    result.timings["report_seconds"] = time.perf_counter() - reporting
    result.timings["total_seconds"] = time.perf_counter() - began
    result.timings["total_cpu_seconds"] = time.process_time() - cpu  # this process's CPU: wall time without the queue
    (out / "results.json").write_text(
        json.dumps(json.loads((out / "results.json").read_text()) | {"timings": result.timings}, indent=2, default=str)
    )
    log.info("report: %s (total %.0f s)", report, result.timings["total_seconds"])
    tables = [markdown_table(result)] + ([] if oos is None else [markdown_table(oos.report)])
    return "\n\n".join(tables)
