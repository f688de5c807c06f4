"""Plots and the HTML report of the retraining study (:mod:`pipeline.experiments.retraining`).

The plot functions take the study's plain DataFrames and return PNG bytes (matplotlib, Agg backend),
so they also serve other day-by-day monitoring data.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.experiments.result import OutOfSampleResult, StudyResult
from pipeline.visualization.plots import _png

TEMPLATE = Path(__file__).with_name("study_report.html.j2")
COLOURS = {
    "never": "tab:gray",
    "monthly": "tab:blue",
    "weekly": "tab:green",
    "weekly_improvement": "tab:olive",
    "monitor": "tab:red",
}


def _figure(rows: int = 1, width: float = 9, height: float = 4):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    axes = figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    return figure, axes


def _dated_png(figure) -> bytes:
    """PNG bytes of ``figure`` whose x axes are dates, labelled concisely (no overlapping labels)."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    for ax in figure.axes:
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    return _png(figure)


def auc_over_time_png(daily: pd.DataFrame, window: int = 7) -> bytes:
    """Realized ROC AUC over time, one line per policy: the rolling mean of the daily AUCs.

    Args:
        daily: columns ``policy`` (str), ``day`` (date) and ``roc_auc`` (float, NaN allowed), one row
            per policy and day.
        window: days in the rolling mean (a day with no AUC is skipped, not counted as 0).

    Returns:
        A 9 x 4 inch PNG at 100 dpi.
    """
    figure, (ax,) = _figure()
    for policy, group in daily.groupby("policy", sort=False):
        series = group.set_index(pd.to_datetime(group["day"]))["roc_auc"].sort_index()
        ax.plot(series.rolling(window, min_periods=1).mean(), label=policy, color=COLOURS.get(policy))
    ax.set_ylabel(f"ROC AUC ({window}-day rolling mean)")
    ax.set_title("Realized daily ROC AUC of the predictions")
    ax.grid(alpha=0.3)
    ax.legend()
    return _dated_png(figure)


def monthly_auc_png(monthly: pd.DataFrame) -> bytes:
    """Per-month realized ROC AUC (each month's predictions pooled), one line per policy.

    Args:
        monthly: columns ``policy`` (str), ``month`` (``"YYYY-MM"``) and ``roc_auc`` (float).
    """
    figure, (ax,) = _figure()
    for policy, group in monthly.groupby("policy", sort=False):
        group = group.sort_values("month")
        ax.plot(pd.to_datetime(group["month"]), group["roc_auc"], marker="o", label=policy, color=COLOURS.get(policy))
    ax.set_ylabel("ROC AUC (month pooled)")
    ax.set_title("Realized ROC AUC per month")
    ax.grid(alpha=0.3)
    ax.legend()
    return _dated_png(figure)


def estimated_vs_realized_png(daily: pd.DataFrame, policy: str = "monitor") -> bytes:
    """One policy's daily ROC AUC estimated from the scores alone (CBPE) against the realized one.

    Args:
        daily: columns ``policy``, ``day`` (date), ``roc_auc`` (realized) and ``estimated_roc_auc``
            (float, NaN where not estimated), one row per policy and day.
        policy: the policy drawn.

    Returns:
        A 9 x 4 inch PNG: both series per day, and the mean absolute error in the title.
    """
    figure, (ax,) = _figure()
    mine = daily[daily["policy"] == policy].sort_values("day")
    days = pd.to_datetime(mine["day"])
    ax.plot(days, mine["roc_auc"], color="black", linewidth=1, label="realized (labels)")
    ax.plot(days, mine["estimated_roc_auc"], color="tab:orange", linewidth=1, label="estimated (CBPE, scores only)")
    error = (mine["estimated_roc_auc"] - mine["roc_auc"]).abs().mean()
    ax.set_ylabel("daily ROC AUC")
    ax.set_title(f"{policy}: estimated vs realized daily ROC AUC (mean absolute error {error:.4f})")
    ax.grid(alpha=0.3)
    ax.legend()
    return _dated_png(figure)


def monitor_decisions_png(decisions: pd.DataFrame, margin: float) -> bytes:
    """The monitor policy's trigger evidence per day: the realized metric over the trigger window
    against the champion's holdout metric minus ``margin``; vertical lines where a retrain was asked.

    Args:
        decisions: columns ``day`` (date), ``realized`` (float or None), ``champion_holdout`` (float),
            ``retrain`` (bool).
        margin: ``monitoring.trigger.margin``.
    """
    figure, (ax,) = _figure()
    days = pd.to_datetime(decisions["day"])
    ax.plot(days, pd.to_numeric(decisions["realized"], errors="coerce"), color="tab:red", label="realized (window)")
    ax.step(
        days,
        decisions["champion_holdout"] - margin,
        where="post",
        color="black",
        linestyle="--",
        linewidth=0.8,
        label=f"champion holdout - {margin}",
    )
    for day in days[decisions["retrain"].astype(bool)]:
        ax.axvline(day, color="tab:red", alpha=0.3, linewidth=0.8)
    ax.set_ylabel("ROC AUC")
    ax.set_title("monitor policy: trigger evidence (vertical lines: retrain asked)")
    ax.grid(alpha=0.3)
    ax.legend()
    return _dated_png(figure)


def retrain_events_png(events: pd.DataFrame, policies: list[str], start: dt.date, end: dt.date) -> bytes:
    """Timeline of retrains: one row per policy, a filled marker per promoted challenger, a hollow one
    per refused challenger, a diamond for the first model.

    Args:
        events: columns ``policy`` (str), ``cutoff`` (datetime) and ``promoted`` (bool), one row per retrain.
        policies: the rows, top to bottom.
        start, end: the replay's first day and its (exclusive) end.
    """
    figure, (ax,) = _figure(height=1 + 0.6 * len(policies))
    for y, policy in enumerate(reversed(policies)):
        mine = events[events["policy"] == policy]
        days = pd.to_datetime(mine["cutoff"].map(lambda t: t.date()))
        promoted = mine["promoted"].astype(bool).to_numpy()
        colour = COLOURS.get(policy)
        ax.scatter(days[promoted], [y] * int(promoted.sum()), marker="o", color=colour)
        ax.scatter(days[~promoted], [y] * int((~promoted).sum()), marker="o", facecolors="none", edgecolors=colour)
        ax.scatter([pd.Timestamp(start)], [y], marker="D", color=colour)
        ax.annotate(
            f"{len(mine)} retrains, {int(promoted.sum())} promoted",
            (pd.Timestamp(end), y),
            xytext=(5, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(range(len(policies)), list(reversed(policies)))
    span = pd.Timestamp(end) - pd.Timestamp(start)
    ax.set_xlim(pd.Timestamp(start) - span * 0.02, pd.Timestamp(end) + span * 0.25)
    ax.set_ylim(-0.7, len(policies) - 0.3)
    ax.set_title("Retrain events (filled: promoted, hollow: refused by the gate, diamond: first model)")
    ax.grid(axis="x", alpha=0.3)
    return _dated_png(figure)


def study_plots(result: StudyResult, meta: dict[str, Any]) -> dict[str, bytes]:
    """Every plot of the report: file name -> PNG bytes. ``meta`` needs ``start``, ``end`` (ISO dates),
    ``policies`` and ``monitoring`` (the config section as a dict)."""
    start, end = dt.date.fromisoformat(meta["start"]), dt.date.fromisoformat(meta["end"])
    plots = {
        "auc_over_time.png": auc_over_time_png(result.daily),
        "auc_per_month.png": monthly_auc_png(result.monthly),
        "retrain_events.png": retrain_events_png(result.events, list(meta["policies"]), start, end),
    }
    if result.daily["estimated_roc_auc"].notna().any():
        plots["estimated_vs_realized.png"] = estimated_vs_realized_png(result.daily)
    monitor = result.decisions[result.decisions["policy"] == "monitor"]
    if len(monitor):
        margin = meta["monitoring"]["trigger"]["margin"]
        plots["monitor_decisions.png"] = monitor_decisions_png(monitor, margin)
    return plots


def write_report(
    result: StudyResult, out: Path, meta: dict[str, Any], table: str, oos: OutOfSampleResult | None = None
) -> Path:
    """Write the plots as PNG files and ``report.html`` (plots embedded as data URIs, so the page stands
    alone) into ``out``.

    Args:
        result: the study's result.
        out: an existing folder.
        meta: as for :func:`study_plots`, plus anything to show as run details (``model``, ``training``,
            ``rows``, ``code_version``, ``timezone``, ``lead``, ``horizon``; with ``oos``,
            ``selection_span`` and ``report_span``).
        table: the Markdown result table, shown verbatim.
        oos: the out-of-sample part, shown as two tables (the report span's policies with their
            monthly ROC AUC, and the selection grid), or None.

    Returns:
        The path of ``report.html``. Every value is HTML-escaped by jinja2's autoescaping.
    """
    from jinja2 import Environment

    images = []
    for name, png in study_plots(result, meta).items():
        (out / name).write_bytes(png)
        images.append((name, "data:image/png;base64," + base64.b64encode(png).decode()))
    months = sorted(result.monthly["month"].unique())
    monthly = result.monthly.pivot(index="policy", columns="month", values="roc_auc")
    oos_months, oos_monthly = [], None
    if oos is not None:
        oos_months = sorted(oos.report.monthly["month"].unique())
        oos_monthly = oos.report.monthly.pivot(index="policy", columns="month", values="roc_auc")
    template = Environment(autoescape=True).from_string(TEMPLATE.read_text())
    html = template.render(
        meta=meta,
        oos=None if oos is None else oos.table.astype(object).where(oos.table.notna(), None).to_dict("records"),
        oos_months=oos_months,
        oos_monthly=oos_monthly,
        grid=None if oos is None else oos.grid.to_dict("records"),
        summary=result.summary.to_dict("records"),
        months=months,
        monthly=monthly,
        events=result.events.to_dict("records"),
        timings=result.timings,
        table=table,
        images=images,
    )
    path = out / "report.html"
    path.write_text(html)
    return path
