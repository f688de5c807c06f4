"""The retraining study's out-of-sample part: the monitor's trigger parameters chosen on one span and
reported on the next, against calendar policies of the same cost. ``pipeline study --split``.

The trigger rule's margin and maximum age (``monitoring.trigger``) were tuned on the same replay that
reports them (``docs/study.md``), so that comparison flatters the trigger. Here:

1. **Selection** (:func:`select_trigger`): the span ``[start, split)`` is replayed with one monitor
   policy per point of a small grid (:data:`SELECTION_GRID`: margin x maximum age, the rest of
   ``monitoring`` as configured); the point with the highest pooled ROC AUC is chosen.
2. **Report** (:func:`out_of_sample`): ``[split, end)`` is replayed from a model trained as of ``split``
   (every policy starts from it) with ``weekly``, ``monthly``, the chosen trigger (``monitor_selected``)
   and a trigger without a margin parameter (``monitor_bootstrap``: at each decision the margin is
   :func:`~pipeline.monitoring.trigger.bootstrap_margin` of the champion's holdout at the realized
   window's size).
3. **Equal cost** (:func:`equal_cost_days`): for each of the two monitor policies, the calendar policy
   "every N days" whose retrain count on the report span is closest to the monitor's, replayed on
   ``[split, end)`` too. The trigger pays only if it beats the calendar that costs as much.

Every replay goes through :func:`~pipeline.experiments.retraining.replay` on the study's one
:class:`~pipeline.experiments.retraining.ReplayTable`, so a model as of a given midnight is fitted once
for the full replay, the selection and the report together.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping, Sequence

import pandas as pd

from pipeline.config import PipelineConfig
from pipeline.experiments.result import OutOfSampleResult, StudyResult
from pipeline.experiments.retraining import (
    Policy,
    ReplayTable,
    age_label,
    bootstrap_policy,
    calendar_policy,
    local_days,
    local_midnights,
    monitor_policy,
    replay,
)

log = logging.getLogger(__name__)

# The out-of-sample selection's grid (select_trigger): every margin (ROC AUC units) with every maximum age
# (days; None: no age trigger), 16 monitor policies replayed on the selection span, around the configured rule.
SELECTION_GRID: dict[str, tuple] = {"margin": (0.01, 0.015, 0.02, 0.03), "max_age_days": (21, 28, 42, None)}


def equal_cost_days(retrains: int, days: int) -> int:
    """N such that retraining every N days retrains as often as ``retrains`` on a span of ``days``
    local days, or as close as a whole N allows.

    Every N days from the span's first day (whose model every policy starts from) retrains on days N,
    2N, ... of the ``days - 1`` after it: ``(days - 1) // N`` times. N is the one in ``1..days`` whose
    count is closest to ``retrains`` (a whole N cannot hit every count: 152 days allow 16 or 19
    retrains, not 17 or 18); on a tie, the smallest N. Among the N of the same count, the smallest
    spreads the retrains most evenly (the largest pushes the last one toward the span's end, where it
    serves few days); between two counts equally close, it takes the higher one, so the calendar is
    never given less than the monitor's budget. ``retrains`` 0 gives N = ``days``: no retrain.

    Raises:
        ValueError: ``days`` < 1 or ``retrains`` < 0.
    """
    if days < 1 or retrains < 0:
        raise ValueError(f"days must be at least 1 and retrains at least 0, got {days} and {retrains}")
    return min(range(1, days + 1), key=lambda n: (abs((days - 1) // n - retrains), n))


def select_trigger(
    table: ReplayTable,
    cfg: PipelineConfig,
    start: dt.datetime,
    split: dt.datetime,
    grid: Mapping[str, Sequence] = SELECTION_GRID,
) -> tuple[pd.DataFrame, StudyResult]:
    """Choose the monitor's trigger parameters on the selection span ``[start, split)``.

    Each point of ``grid`` (every ``margin`` with every ``max_age_days``; the rest of ``monitoring`` as
    configured) is a :func:`monitor_policy`, all replayed at once from the model trained as of ``start``.
    The chosen point has the highest pooled ROC AUC on the span; ties go to fewer retrains, then to
    the grid's order.

    Args:
        table: the study's :class:`ReplayTable` (fits are shared with every other replay of it).
        cfg: as :func:`replay`'s.
        start, split: local midnights, ``start < split``.
        grid: ``margin`` (the metric's units, >= 0) and ``max_age_days`` (days > 0, or None: no age
            trigger) values.

    Returns:
        ``(grid, selection)``: one row per grid point, in the grid's order, with ``policy`` (its id in
        ``selection``), ``margin``, ``max_age_days``, ``retrains``, ``promotions``, ``train_seconds``,
        ``pooled_roc_auc``, ``mean_daily_roc_auc`` (on the selection span) and ``chosen`` (bool, one
        True); and the selection span's :class:`StudyResult`.

    Raises:
        ValueError, TrainingDataError: as :func:`replay`; an empty grid.
    """
    points = [(m, a) for m in grid["margin"] for a in grid["max_age_days"]]
    if not points:
        raise ValueError(f"the selection grid is empty: {dict(grid)}")
    policies = [monitor_policy(f"monitor_margin_{m:g}_max_age_{age_label(a)}", m, a) for m, a in points]
    log.info(
        "selection: replaying %d trigger variants on [%s, %s): margins %s x maximum ages %s",
        len(points),
        start.date(),
        split.date(),
        list(grid["margin"]),
        list(grid["max_age_days"]),
    )
    selection = replay(table, cfg, start, split, policies)
    frame = pd.DataFrame(
        {
            "policy": [p.name for p in policies],
            "margin": [float(m) for m, _ in points],
            "max_age_days": pd.Series([a for _, a in points], dtype=object),  # None stays None, not NaN
        }
    )
    columns = ["policy", "retrains", "promotions", "train_seconds", "pooled_roc_auc", "mean_daily_roc_auc"]
    frame = frame.merge(selection.summary[columns], on="policy", how="left", validate="one_to_one")
    order = frame.sort_values(
        ["pooled_roc_auc", "retrains"], ascending=[False, True], kind="stable", na_position="last"
    ).index
    frame["chosen"] = frame.index == order[0]
    for row in frame.itertuples():
        log.info(
            "selection: margin %g, max age %s: %d retrain(s), pooled ROC AUC %.4f%s",
            row.margin,
            age_label(row.max_age_days),
            row.retrains,
            row.pooled_roc_auc,
            " (chosen)" if row.chosen else "",
        )
    return frame, selection


def check_split(start: dt.datetime, split: dt.datetime, end: dt.datetime) -> None:
    """Raises ValueError unless ``start < split < end`` (both spans non-empty)."""
    if not start < split < end:
        raise ValueError(
            f"the split {split.date()} must lie strictly between the start {start.date()} and the end {end.date()}"
        )


def out_of_sample(
    table: ReplayTable,
    cfg: PipelineConfig,
    start: dt.datetime,
    split: dt.datetime,
    end: dt.datetime,
    grid: Mapping[str, Sequence] = SELECTION_GRID,
) -> OutOfSampleResult:
    """The trigger chosen on ``[start, split)`` and reported on ``[split, end)`` (module docstring).

    1. :func:`select_trigger` on ``[start, split)``.
    2. ``[split, end)`` replayed from the model trained as of ``split`` with ``weekly``, ``monthly``,
       ``monitor_selected`` (the chosen grid point) and ``monitor_bootstrap`` (:func:`bootstrap_policy`).
    3. For each of the two monitor policies, :func:`calendar_policy` with N = :func:`equal_cost_days`
       of its retrains on the report span (one calendar for both when their N agree), replayed on
       ``[split, end)`` too.

    Args:
        table, cfg, grid: as :func:`select_trigger`'s.
        start, split, end: local midnights, ``start < split < end``.

    Returns:
        The :class:`OutOfSampleResult`.

    Raises:
        ValueError: ``split`` not strictly between ``start`` and ``end``; as :func:`replay`.
        TrainingDataError: as :func:`replay`.
    """
    start, split, end = local_midnights(cfg, start, split, end)
    check_split(start, split, end)
    began = time.perf_counter()
    fitted = len(table.models)
    grid_frame, selection = select_trigger(table, cfg, start, split, grid)
    selected = grid_frame[grid_frame["chosen"]].iloc[0]
    selection_seconds = time.perf_counter() - began
    monitors = [
        monitor_policy("monitor_selected", float(selected["margin"]), selected["max_age_days"]),
        bootstrap_policy(cfg),
    ]
    log.info("report: replaying [%s, %s) from a model as of %s", split.date(), end.date(), split.date())
    report = replay(table, cfg, split, end, ["weekly", "monthly", *monitors])
    retrains = report.summary.set_index("policy")["retrains"]
    days = len(local_days(split, end))
    every: dict[int, list[str]] = {}
    for policy in monitors:
        every.setdefault(equal_cost_days(int(retrains[policy.name]), days), []).append(policy.name)
    calendars = [calendar_policy(n, names) for n, names in every.items()]
    log.info(
        "report: calendars of equal cost on %d days: %s",
        days,
        ", ".join(f"every {n} days for {', '.join(names)}" for n, names in every.items()),
    )
    report = report.combine(replay(table, cfg, split, end, calendars))
    table_frame = _out_of_sample_table(report, cfg, monitors, every)
    timings = {
        "selection_seconds": selection_seconds,
        "report_span_seconds": time.perf_counter() - began - selection_seconds,
        "new_fits": len(table.models) - fitted,
    }
    return OutOfSampleResult(split, grid_frame, selection, report, table_frame, timings)


def _out_of_sample_table(
    report: StudyResult, cfg: PipelineConfig, monitors: list[Policy], every: dict[int, list[str]]
) -> pd.DataFrame:
    """The report span's summary with each policy's parameters: ``margin`` (a fixed trigger margin,
    else None), ``bootstrap_margin`` (bool), ``mean_margin`` (a monitor policy's mean margin over its
    decisions that had one), ``max_age_days`` (monitor policies; None: no age trigger, or not a
    monitor), ``every_days`` and ``equal_cost_to`` (calendar policies: N, and the monitor policies
    whose retrain count it matches)."""
    monitor_by_name = {p.name: p for p in monitors}
    calendar_by_name = {calendar_policy(n).name: (n, names) for n, names in every.items()}
    margins = report.decisions.groupby("policy")["margin"].mean()
    rows = []
    for row in report.summary.to_dict("records"):
        name, p = row["policy"], monitor_by_name.get(row["policy"])
        trigger = None if p is None else p.monitoring(cfg).trigger
        n, names = calendar_by_name.get(name, (None, None))
        rows.append(
            row
            | {
                "margin": None if trigger is None or p.bootstrap_margin else trigger.margin,
                "bootstrap_margin": p is not None and p.bootstrap_margin,
                "mean_margin": float(margins[name]) if p is not None and name in margins.index else None,
                "max_age_days": None if trigger is None else trigger.max_age_days,
                "every_days": n,
                "equal_cost_to": names,
            }
        )
    frame = pd.DataFrame(rows)
    for column in ("max_age_days", "every_days"):  # whole numbers or None, not floats and NaN
        frame[column] = pd.Series([row[column] for row in rows], dtype=object)
    return frame
