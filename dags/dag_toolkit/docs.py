"""Each DAG's documentation (the UI's Docs), filled in for its model."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pipeline.config import PipelineConfig


def dag_doc(template: str, cfg: PipelineConfig, intervals: bool = True, **extra: Any) -> str:
    """A DAG file's docstring, ``template``, filled in for one model: ``{model}``, ``{task}``,
    ``{timezone}``, ``{table}`` (its predictions table), ``{source}`` (its file), and ``extra``;
    followed, for a scheduled DAG (``intervals``), by which interval a run covers and what a run
    without data does, and by which dates have data (``dataset.coverage``)."""
    doc = template.format(
        model=cfg.model.name,
        task=cfg.task,
        timezone=cfg.schedule.timezone,
        table=cfg.predictions.table,
        source=cfg.source,
        **extra,
    )
    if intervals:
        verdict = "skipped" if cfg.schedule.on_empty == "skip" else "failed"
        doc += (
            "\n**Intervals.** A run with logical date D, scheduled, backfilled or triggered by hand, covers the "
            f"schedule period that ends at D: [previous tick, D) in {cfg.schedule.timezone}. Trigger by hand with "
            "the tick that ends the period you want; the trigger form's data interval fields, when set, choose "
            f"another interval. A run whose interval has no data is {verdict} with a message saying so "
            "(`schedule.on_empty`).\n"
        )
    if cfg.dataset.coverage:
        doc += f"\n**Data.** {cfg.dataset.coverage}\n"
    return doc


def _span(delta: dt.timedelta) -> str:
    """A timedelta in the largest whole unit (``1h``, ``90min``, ``1d``, ``0``), for docs."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return "0"


def forecast_doc(cfg: PipelineConfig) -> str:
    """The predict DAG's paragraph on what a run scores: the lead, the horizon and the scored window
    of a run cut off at T (:class:`pipeline.schedule.CutoffRule`)."""
    rule, ds = cfg.cutoff_rule, cfg.dataset
    lead, far = _span(rule.lead), _span(rule.lead + rule.horizon)
    return (
        f"\n**Forecast.** Lead `{_span(rule.lead)}`, horizon `{_span(rule.horizon)}` (`predictions.lead`, "
        f"`predictions.horizon`). A run cut off at T, the end of its data interval, scores the {ds.name} whose "
        f"`{ds.timestamp}` lies in [T+{lead}, T+{far}), with features computed from data known by T "
        "(each row's `as_of` is T). Its rows record `as_of`, `window_start` and `window_end` next to the "
        "data interval.\n"
    )
