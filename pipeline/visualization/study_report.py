"""Plots and the HTML report of the retraining-interval study (:mod:`pipeline.study`).

The plot functions take the study's plain DataFrames and return PNG bytes (matplotlib, Agg backend),
so they also serve other day-by-day monitoring data.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.experiments.result import StudyResult
from pipeline.visualization.plots import _png

TEMPLATE = Path(__file__).with_name("study_report.html.j2")
COLOURS = {"never": "tab:gray", "monthly": "tab:blue", "weekly": "tab:green", "drift": "tab:red"}


def _figure(rows: int = 1, width: float = 9, height: float = 4):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    axes = figure.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    return figure, axes


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
    ax.set_title("Realized ROC AUC of next-day predictions")
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(figure)


def monthly_auc_png(monthly: pd.DataFrame) -> bytes:
    """Per-month realized ROC AUC (each month's predictions pooled), one line per policy.

    Args:
        monthly: columns ``policy`` (str), ``month`` (``"YYYY-MM"``) and ``roc_auc`` (float).
    """
    figure, (ax,) = _figure()
    for policy, group in monthly.groupby("policy", sort=False):
        group = group.sort_values("month")
        ax.plot(group["month"], group["roc_auc"], marker="o", label=policy, color=COLOURS.get(policy))
    ax.set_ylabel("ROC AUC (month pooled)")
    ax.set_title("Realized ROC AUC per month")
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(figure)


def drift_over_time_png(drift: pd.DataFrame, feature_share: float, score_psi: float) -> bytes:
    """The drift monitor's measurements per day, with the trigger thresholds and the retrains.

    Args:
        drift: one row per day: ``day`` (date), ``drifted_features`` and ``voting_features`` (int),
            ``score_psi`` (float), ``realized_roc_auc`` (float or None), ``retrain`` (bool).
        feature_share: ``monitoring.trigger_feature_share``; drawn as ``share * voting_features``.
        score_psi: ``monitoring.trigger_prediction_psi``.

    Returns:
        A 9 x 7 inch PNG: drifted features, score PSI and realized ROC AUC over time; dashed lines are
        the thresholds, vertical lines the days a retrain was triggered.
    """
    figure, axes = _figure(3, height=7)
    days = pd.to_datetime(drift["day"])
    auc = pd.to_numeric(drift["realized_roc_auc"], errors="coerce")
    panels = [
        (drift["drifted_features"], feature_share * drift["voting_features"].max(), "drifted features (PSI)"),
        (drift["score_psi"], score_psi, "score PSI vs holdout"),
        (auc, None, "realized ROC AUC (window)"),
    ]
    for ax, (values, threshold, title) in zip(axes, panels, strict=True):
        ax.plot(days, values, color="tab:purple", linewidth=1)
        if threshold is not None:
            ax.axhline(threshold, color="black", linestyle="--", linewidth=0.8)
        for day in days[drift["retrain"].astype(bool)]:
            ax.axvline(day, color="tab:red", alpha=0.3, linewidth=0.8)
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
    axes[0].set_title("Drift of the drift-triggered policy's current model (red: retrain triggered)")
    return _png(figure)


def retrain_events_png(retrains: pd.DataFrame, policies: list[str], start: dt.date, end: dt.date) -> bytes:
    """Timeline of retrains: one row per policy, a marker per retrain, a diamond for the first model.

    Args:
        retrains: columns ``policy`` (str) and ``day`` (date), one row per retrain after the first model.
        policies: the rows, top to bottom.
        start, end: the replay's first day and its (exclusive) end.
    """
    figure, (ax,) = _figure(height=1 + 0.6 * len(policies))
    for y, policy in enumerate(reversed(policies)):
        days = pd.to_datetime(retrains.loc[retrains["policy"] == policy, "day"])
        ax.scatter(days, [y] * len(days), marker="|", s=300, color=COLOURS.get(policy))
        ax.scatter([pd.Timestamp(start)], [y], marker="D", color=COLOURS.get(policy))
        ax.annotate(
            f"{len(days)} retrains",
            (pd.Timestamp(end), y),
            xytext=(5, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(range(len(policies)), list(reversed(policies)))
    ax.set_xlim(pd.Timestamp(start) - pd.Timedelta(days=3), pd.Timestamp(end) + pd.Timedelta(days=25))
    ax.set_ylim(-0.7, len(policies) - 0.3)
    ax.set_title("Retrain events (diamond: first model)")
    ax.grid(axis="x", alpha=0.3)
    return _png(figure)


def study_plots(result: StudyResult, meta: dict[str, Any]) -> dict[str, bytes]:
    """Every plot of the report: file name -> PNG bytes. ``meta`` needs ``start``, ``end`` (ISO dates),
    ``policies`` and ``monitoring`` (the config section as a dict)."""
    mon = meta["monitoring"]
    start, end = dt.date.fromisoformat(meta["start"]), dt.date.fromisoformat(meta["end"])
    plots = {
        "auc_over_time.png": auc_over_time_png(result.daily),
        "auc_per_month.png": monthly_auc_png(result.monthly),
        "retrain_events.png": retrain_events_png(result.retrains, list(meta["policies"]), start, end),
    }
    if len(result.drift):
        plots["drift_over_time.png"] = drift_over_time_png(
            result.drift, mon["trigger_feature_share"], mon["trigger_prediction_psi"]
        )
    return plots


def write_report(result: StudyResult, out: Path, meta: dict[str, Any], table: str) -> Path:
    """Write the plots as PNG files and ``report.html`` (plots embedded as data URIs, so the page stands
    alone) into ``out``.

    Args:
        result: the study's result.
        out: an existing folder.
        meta: as for :func:`study_plots`, plus anything to show as run details (``model``, ``training``,
            ``rows``, ``code_version``).
        table: the Markdown result table, shown verbatim.

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
    triggered = result.retrains[result.retrains["policy"] == "drift"]
    template = Environment(autoescape=True).from_string(TEMPLATE.read_text())
    html = template.render(
        meta=meta,
        summary=result.summary.to_dict("records"),
        months=months,
        monthly=monthly,
        triggered=triggered.to_dict("records"),
        timings=result.timings,
        table=table,
        images=images,
    )
    path = out / "report.html"
    path.write_text(html)
    return path
