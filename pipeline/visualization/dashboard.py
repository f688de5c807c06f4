"""The model dashboard's pages and data: what the Airflow plugin ``plugins/model_dashboard.py`` serves.

- :func:`overview` and :func:`models_page`: every configured model, its champion, last retrain
  decision and last monitor verdict (and the broken model files' errors).
- :func:`model_data` and :func:`model_page`: one model's versions, daily performance, drift, gate
  intervals and prediction counts, with three charts.

The data comes from :mod:`pipeline.summary` (the readers ``pipeline summary`` uses). Charts are drawn
server-side by matplotlib as inline SVG; each series carries an ``id`` (``gid``) so a page's points can
be counted: ``#realized use`` and ``#estimated use`` (one marker per day with a value),
``[id^=retrain-]`` (one line per change of champion), ``#drift path`` (one cell per run and feature
measured) and ``[id^=interval-]`` (one bar per data interval with predictions; a missing interval is
a gap). Every value in the HTML is escaped by jinja2.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import summary
from pipeline.metrics import holdout_metric_names
from pipeline.monitoring.trigger import verdict
from pipeline.visualization.plots import new_figure

if TYPE_CHECKING:
    from pipeline.config import PipelineConfig
    from pipeline.data.warehouse import Warehouse

TEMPLATE = Path(__file__).with_name("dashboard.html.j2")


def overview(cfg: PipelineConfig, warehouse: Warehouse) -> dict[str, Any]:
    """One row of the Models page: ``model``, ``task``, ``champion`` (version or None), ``since``
    (logical time it became champion), ``champion_reason`` (promoted, forced, rollback),
    ``last_decision`` (the newest decided version's ``version``, ``decision``, ``decision_reason``,
    ``decided_at``; or None) and ``monitor`` (the latest verdict's ``data_interval_end``, ``verdict``
    line and ``reasons``; or None)."""
    name = cfg.model.name
    versions = summary.versions(warehouse, name)
    history = summary.champion_history(warehouse, name)
    champion = next((v["version"] for v in versions if v["status"] == "champion"), None)
    became = next((h for h in reversed(history) if h["new_version"] == champion), None)
    decided = [v for v in versions if v["decided_at"] is not None]
    last = max(decided, key=lambda v: v["decided_at"], default=None)
    return {
        "model": name,
        "task": cfg.task,
        "champion": champion,
        "since": became and became["valid_from"],
        "champion_reason": became and became["reason"],
        "last_decision": last and {k: last[k] for k in ("version", "decision", "decision_reason", "decided_at")},
        "monitor": _monitor(summary.latest_monitor(warehouse, name)),
    }


def _monitor(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """The latest monitor decision as the pages show it (:func:`pipeline.monitoring.trigger.verdict`)."""
    if row is None:
        return None
    trigger = (row["evidence"] or {}).get("trigger")
    line = verdict(row["retrain"], row["suppressed"], trigger) if trigger else None
    return {"data_interval_end": row["data_interval_end"], "verdict": line, "reasons": row["reasons"]}


def model_data(cfg: PipelineConfig, warehouse: Warehouse) -> dict[str, Any]:
    """One model's page as data: ``overview`` (:func:`overview`), ``metric`` (the promotion metric),
    ``versions`` (:func:`pipeline.summary.versions`), ``history`` (the champion changes),
    ``performance`` (:func:`pipeline.summary.daily_performance`), ``drift``
    (:func:`pipeline.summary.drift_history`), ``gates`` (each decided version's ``version``,
    ``decision``, ``reason`` and the gate's ``comparisons``: metric, difference and its interval, tolerance),
    ``counts`` (:func:`pipeline.summary.prediction_counts`) and ``gaps`` between them."""
    name = cfg.model.name
    versions = summary.versions(warehouse, name)
    counts = summary.prediction_counts(warehouse, cfg)
    return {
        "overview": overview(cfg, warehouse),
        "metric": cfg.promotion_metric,
        "versions": versions,
        "history": summary.champion_history(warehouse, name),
        "performance": summary.daily_performance(warehouse, cfg),
        "drift": summary.drift_history(warehouse, name),
        "gates": [
            {
                "version": v["version"],
                "decision": v["decision"],
                "reason": v["decision_reason"],
                "comparisons": (v["decision_evidence"] or {}).get("comparisons", []),
                "confidence": (v["decision_evidence"] or {}).get("confidence"),
            }
            for v in versions
            if v["decision"] is not None
        ],
        "counts": counts,
        "gaps": summary.gaps(counts),
    }


def models_page(rows: list[dict[str, Any]], broken: dict[str, str], base: str) -> str:
    """The Models page (HTML): one row per configured model (:func:`overview`), and each broken model
    file's error (``broken``: model name -> message). ``base`` is the URL path the pages are served
    under (links)."""
    return _render("models", rows=rows, broken=broken, base=base)


def model_page(data: dict[str, Any], base: str) -> str:
    """One model's page (HTML) from :func:`model_data`, with its three charts as inline SVG."""
    charts = {
        "performance": performance_svg(data["performance"], data["history"], data["metric"]),
        "drift": drift_svg(data["drift"]),
        "counts": counts_svg(data["counts"]),
    }
    return _render(
        "model", base=base, charts=charts, metric_names=holdout_metric_names(data["overview"]["task"]), **data
    )


def _render(page: str, **values: Any) -> str:
    from jinja2 import Environment
    from markupsafe import Markup

    env = Environment(autoescape=True)
    env.filters["svg"] = Markup  # matplotlib's own SVG output, not user input
    return env.from_string(TEMPLATE.read_text()).render(page=page, **values)


def _svg(figure) -> str:
    import matplotlib

    matplotlib.rcParams["svg.hashsalt"] = "dashboard"  # stable element ids
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: no XML prolog or doctype


def performance_svg(days: list[dict[str, Any]], history: list[dict[str, Any]], metric: str) -> str:
    """The champion's realized (``#realized``) and CBPE-estimated (``#estimated``) ``metric`` per day
    (:func:`pipeline.summary.daily_performance`), a marker per day with a value (a day without one is a
    gap in the line), and a vertical line
    per change of champion (``#retrain-<n>``, n = the new version, at its ``valid_from``)."""
    import matplotlib.dates as mdates

    figure, ax = new_figure(9, 3.2)
    by_day = {d["day"]: d for d in days}
    span = range((max(by_day) - min(by_day)).days + 1) if by_day else range(0)
    every = [min(by_day) + dt.timedelta(days=i) for i in span]  # a day without a row is a gap in the line
    x = [dt.datetime.combine(day, dt.time(), dt.UTC) for day in every]
    for key, style in (("realized", "o-"), ("estimated", "s--")):
        y = [float("nan") if by_day.get(day, {}).get(key) is None else by_day[day][key] for day in every]
        ax.plot(x, y, style, label=key, gid=key)
    for h in history:
        ax.axvline(h["valid_from"], color="tab:red", alpha=0.6, gid=f"retrain-{h['new_version']}")
        ax.annotate(f"v{h['new_version']}", (h["valid_from"], 1), xycoords=("data", "axes fraction"), fontsize=8)
    ax.set_ylabel(metric)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(f"{metric} per day (UTC): realized and estimated (CBPE); red: a new champion")
    return _svg(figure)


def drift_svg(drift: list[dict[str, Any]]) -> str:
    """A heat map (``#drift``) of PSI per monitor run (columns, by cutoff) and feature (rows, the
    prediction's ``score`` first), one cell per value measured; a drifted cell is outlined."""
    import numpy as np

    runs = sorted({d["data_interval_end"] for d in drift})
    features = sorted({d["feature"] for d in drift}, key=lambda f: (f != "score", f))
    grid = np.full((len(features), len(runs)), np.nan)
    for d in drift:
        if d["value"] is not None:
            grid[features.index(d["feature"]), runs.index(d["data_interval_end"])] = d["value"]
    figure, ax = new_figure(9, max(2.5, 0.11 * len(features) + 1.2))
    if runs:
        mesh = ax.pcolormesh(np.ma.masked_invalid(grid), cmap="viridis", gid="drift")
        figure.colorbar(mesh, ax=ax, label="PSI")
        ax.set_xticks(np.arange(len(runs)) + 0.5, [f"{r:%m-%d}" for r in runs], fontsize=7)
        ax.set_yticks(np.arange(len(features)) + 0.5, features, fontsize=6)
        ax.invert_yaxis()
    ax.set_title("drift (PSI) per monitor run and feature")
    return _svg(figure)


def counts_svg(counts: list[dict[str, Any]]) -> str:
    """Champion predictions per data interval (:func:`pipeline.summary.prediction_counts`): a bar per
    interval (``#interval-<i>``) spanning it, so an interval without predictions is a gap."""
    import matplotlib.dates as mdates

    figure, ax = new_figure(9, 2.6)
    for i, c in enumerate(counts):
        width = c["data_interval_end"] - c["data_interval_start"]
        ax.bar(c["data_interval_start"], c["rows"], width=width, align="edge", color="tab:blue", gid=f"interval-{i}")
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_ylabel("predictions")
    ax.set_title("champion predictions per data interval (UTC); a gap: no predictions")
    return _svg(figure)
