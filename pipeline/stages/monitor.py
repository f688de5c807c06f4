"""The monitor DAG's stage: measure drift, realized and estimated performance over a window, decide
whether to ask for a retrain, and store it all."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from pipeline.stages.runtime import Runtime

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline

    from pipeline.config import PipelineConfig
    from pipeline.monitoring.trigger import TriggerDecision, TriggerEvidence
    from pipeline.monitoring.window import WindowEvaluation, WindowRows

log = logging.getLogger(__name__)

# The metrics of each day in ``ml.performance_estimates``, estimated (CBPE) and realized.
_DAILY_METRICS = ("roc_auc", "brier", "log_loss", "positive_rate")


class MonitorResult(TypedDict):
    """A monitor run's decision (``as_of``: the window's end, ISO) and what it rests on; ``verdict`` is
    the decision in one line (``RETRAIN``, ``suppressed by cooldown`` or ``no retrain``, then the
    reasons), for logs and alerts."""

    retrain: bool
    suppressed: bool
    verdict: str
    reasons: list[str]
    as_of: str
    champion_version: int
    window_rows: int
    drifted_features: list[str]
    realized_metric: str
    realized_value: float | None


def measure(rt: Runtime) -> MonitorResult:
    """Measure drift, realized and estimated performance over the window that ends at the data
    interval's end (the run's cutoff), decide whether to ask for a retrain, and store it all
    (idempotent per interval).

    - Measure (:func:`pipeline.monitoring.window.evaluate_window`): the feature rows served over the
      last ``monitoring.window_days`` (the published runs' feature batches; the feature query's rows
      only for the times no readable batch covers, counted in the evidence's ``sources``) against the
      champion's training rows (from its stored snapshot), its published champion predictions for the
      window against its holdout scores, and the predictions actually made for the window joined to
      the labels observed by the cutoff (the interval's end;
      :func:`pipeline.models.train.known_labels`).
    - Evidence (:class:`pipeline.monitoring.trigger.TriggerEvidence`): the promotion metric of the
      champion predictions of the last ``monitoring.trigger.performance_window_days`` whose labels
      were known by the cutoff, the champion's holdout value of it (``ml.model_versions.metrics``)
      and its holdout end.
    - Decision: :func:`pipeline.monitoring.trigger.decide_retrain` with the cooldown counted from the
      last requested retrain in ``ml.retrain_triggers``.
    - Estimates (binary classifiers): per day of the window, the current champion's predictions
      scored by CBPE (:func:`pipeline.monitoring.estimate.estimate_performance`, calibrated on its
      holdout) next to their realized metrics where labels are known.

    Results replace the interval's rows in ``ml.feature_drift`` and ``ml.retrain_triggers`` (the
    window's pooled realized value is in the trigger's evidence), and upsert the window's days in
    ``ml.model_performance`` (one row per model version, day and metric) and
    ``ml.performance_estimates``: the latest measurement of a day wins, in one transaction.

    Raises:
        NoChampionError: nothing to monitor yet.
        EmptyIntervalError: the window has no rows: "nothing to monitor" (skipped or failed as
            ``schedule.on_empty`` says); nothing is written.
        FeatureBatchError: a served batch's file differs from its manifest; nothing is written.
    """
    from pipeline.monitoring.trigger import decide_retrain
    from pipeline.monitoring.window import evaluate_window

    cfg = rt.cfg
    champion = _champion(rt)
    window = _window(rt)
    evaluation = evaluate_window(
        champion.model,
        champion.train,
        champion.holdout_predictions,
        window.rows,
        window.made,
        champion.version,
        cfg.dataset,
        cfg.monitoring,
        cfg.task,
    )
    evidence = _trigger_evidence(cfg, champion, window, evaluation)
    decision = decide_retrain(evidence, cfg.monitoring, _last_trigger(rt), rt.ctx.end)
    _store(rt, champion, window, evaluation, decision)
    return _result(rt, champion, window, evaluation, decision)


@dataclass(frozen=True)
class Champion:
    """The champion being monitored: its registry ``record``, fitted ``model``, the ``train`` and
    ``holdout`` rows of its stored training snapshot (labels known by its cutoff), and its
    ``holdout_predictions`` (shape (holdout rows,), float64: the probability of class 1, or the
    predicted value in the label's units)."""

    record: dict
    model: Pipeline
    train: pd.DataFrame
    holdout: pd.DataFrame
    holdout_predictions: np.ndarray

    @property
    def version(self) -> int:
        """The champion's version."""
        return self.record["version"]


@dataclass(frozen=True)
class Sources:
    """Where the drift window's feature rows came from: ``served_batches``, the feature batches read
    (``unreadable``: the manifests of those that could not be, left out); ``served``, the spans of time
    their scored windows cover, merged; ``query``, the rest of the window, whose rows the feature
    query gave (the fallback). Spans are ``[lo, hi)``, tz-aware."""

    served_batches: int
    unreadable: list[str]
    served: list[tuple[dt.datetime, dt.datetime]]
    query: list[tuple[dt.datetime, dt.datetime]]

    def hours(self, spans: list[tuple[dt.datetime, dt.datetime]]) -> float:
        """The length of ``spans`` in hours."""
        return round(sum((hi - lo).total_seconds() for lo, hi in spans) / 3600, 3)

    def evidence(self, rows: WindowRows) -> dict[str, object]:
        """The evidence's ``sources`` (JSON): batches, hours and rows each way, the query's spans (ISO)."""
        return {
            "served_batches": self.served_batches,
            "served_hours": self.hours(self.served),
            "served_rows": len(rows.served),
            "query_hours": self.hours(self.query),
            "query_rows": len(rows.queried),
            "query_spans": [[lo.isoformat(), hi.isoformat()] for lo, hi in self.query],
            "unreadable_batches": self.unreadable,
        }


@dataclass(frozen=True)
class Window:
    """What the monitor looks at, all as of the cutoff ``end`` (tz-aware): ``start``, the drift
    window's start (``monitoring.window_days`` before ``end``); ``performance_start``, the trigger's
    (``monitoring.trigger.performance_window_days`` before); ``rows``, the drift window's rows
    (:class:`~pipeline.monitoring.window.WindowRows`: the served feature rows, the query's for the
    times no batch covers, and the labels known by ``end``) and ``sources``, where they came from;
    ``made``, the predictions made for ``[min(start, performance_start), end)`` (key,
    ``model_version``, ``is_champion``, ``prediction``); ``joined``, those predictions with their
    entity's timestamp and label (:func:`pipeline.monitoring.performance.join_labels`; None when the
    table has no label column)."""

    start: dt.datetime
    performance_start: dt.datetime
    end: dt.datetime
    rows: WindowRows
    sources: Sources
    made: pd.DataFrame
    joined: pd.DataFrame | None


def _champion(rt: Runtime) -> Champion:
    """The champion with its model, its snapshot's training and holdout rows and its holdout predictions.

    Raises:
        NoChampionError: no champion yet.
        ArtifactIntegrityError: its model or snapshot differs from the registered SHA-256.
    """
    from pipeline.features.build import from_parquet
    from pipeline.models import registry
    from pipeline.models.predict import predict
    from pipeline.models.train import TimeSplit, split_by_time

    ds, task = rt.cfg.dataset, rt.cfg.task
    record = registry.require_champion(rt.warehouse, rt.cfg.model.name)
    model = registry.load_model(rt.store, record)
    reference = from_parquet(registry.load_training_snapshot(rt.store, record))
    split = TimeSplit(record["train_start"], record["holdout_start"], record["holdout_end"])
    train, holdout = split_by_time(reference, split, ds, task)
    return Champion(record, model, train, holdout, predict(model, holdout, ds, task))


def _window(rt: Runtime) -> Window:
    """The drift window's rows, as served where a feature batch covers them (:func:`_rows`), and the
    predictions made over the drift and trigger windows. The feature query runs once, over both
    windows: for the labels, and for the feature rows of the times no batch covers.

    Raises:
        EmptyIntervalError: no feature rows in the drift window (:meth:`Runtime.nothing_to_do`).
        FeatureTableError, WarehouseError: the feature query or the predictions query failed.
        FeatureBatchError: a served batch's file differs from its manifest.
    """
    from pipeline.features.build import extract_feature_table
    from pipeline.models.train import known_labels
    from pipeline.monitoring.performance import join_labels

    cfg, end, ds = rt.cfg, rt.ctx.end, rt.cfg.dataset
    start = end - dt.timedelta(days=cfg.monitoring.window_days)
    performance_start = end - dt.timedelta(days=cfg.monitoring.trigger.performance_window_days)
    first = min(start, performance_start)
    extracted = extract_feature_table(rt.warehouse, ds, cfg.cutoff_rule, first, end, require_label=False)
    extracted = known_labels(extracted, ds, end)
    rows, sources = _rows(rt, start, extracted[extracted[ds.timestamp] >= start])
    if rows.features.empty:
        rt.nothing_to_do(f"no {ds.name} rows in [{start}, {end}): nothing to monitor")
    made = _predictions_made(rt, first)
    joined = join_labels(made, extracted, ds.key, ds.timestamp, ds.label) if ds.label in extracted.columns else None
    return Window(start, performance_start, end, rows, sources, made, joined)


def _rows(rt: Runtime, start: dt.datetime, labels: pd.DataFrame) -> tuple[WindowRows, Sources]:
    """The drift window ``[start, end)``'s rows: the feature rows its published runs served
    (:func:`pipeline.features.batch.served_window`), and the query's rows (``labels``, the feature
    query's rows of the window with the labels known at the cutoff) stamped in the times no readable
    batch covers: the fallback."""
    import numpy as np

    from pipeline.features.batch import served_window
    from pipeline.monitoring.window import WindowRows

    ds, end = rt.cfg.dataset, rt.ctx.end
    served = served_window(rt.warehouse, rt.store, rt.cfg.model.name, ds.key, start, end)
    stamps = labels[ds.timestamp]
    in_served = np.zeros(len(labels), dtype=bool)
    for lo, hi in served.spans:
        in_served |= ((stamps >= lo) & (stamps < hi)).to_numpy()
    sources = Sources(len(served.batches), served.unreadable, served.spans, _gaps(served.spans, start, end))
    return WindowRows(served.rows, labels[~in_served], labels), sources


def _gaps(spans: list[tuple[dt.datetime, dt.datetime]], start: dt.datetime, end: dt.datetime) -> list:
    """The parts of ``[start, end)`` that the sorted, disjoint ``spans`` (inside it) leave uncovered."""
    bounds = [start, *(t for span in spans for t in span), end]
    return [(lo, hi) for lo, hi in zip(bounds[::2], bounds[1::2], strict=True) if lo < hi]


def _predictions_made(rt: Runtime, start: dt.datetime) -> pd.DataFrame:
    """The predictions made for the entities stamped in ``[start, end)``: the dataset's key,
    ``model_version`` (int), ``is_champion`` (bool), ``prediction`` (float); no rows before the
    first predict run has created the predictions table."""
    import pandas as pd
    from psycopg2 import sql

    from pipeline.data.warehouse import statement

    cfg, ds = rt.cfg, rt.cfg.dataset
    if not rt.warehouse.table_exists(cfg.predictions.table):
        return pd.DataFrame(columns=[*ds.key, "model_version", "is_champion", "prediction"])
    key = sql.SQL(", ").join(map(sql.Identifier, ds.key))
    query = statement("ml/predictions_in_window", table=cfg.predictions.table, key=key)
    return rt.warehouse.read_frame(query, {"model_name": cfg.model.name, "start": start, "end": rt.ctx.end})


def _last_trigger(rt: Runtime) -> dt.datetime | None:
    """The logical time of the last requested retrain before the cutoff (``ml.retrain_triggers``), or None."""
    params = {"model_name": rt.cfg.model.name, "end": rt.ctx.end}
    return rt.warehouse.fetch("ml/monitor_last_trigger", params)[0]["last_trigger"]


def _trigger_evidence(
    cfg: PipelineConfig, champion: Champion, window: Window, evaluation: WindowEvaluation
) -> TriggerEvidence:
    """The retrain trigger's evidence: the promotion metric (:func:`pipeline.monitoring.performance.metric_value`)
    of the champion predictions stamped in ``[performance_start, end)`` whose labels are known, the
    champion's holdout value of it and holdout end, and the window's drift.

    This realized value and the drift window's (``WindowEvaluation.realized``: the task's headline
    metric over ``monitoring.window_days``) are two settings' numbers; they are equal when the
    promotion metric is the headline metric and both windows are as long (the demo's 7 days)."""
    import pandas as pd

    from pipeline.monitoring.performance import metric_value
    from pipeline.monitoring.trigger import TriggerEvidence

    ds, metric, joined = cfg.dataset, cfg.promotion_metric, window.joined
    if joined is None:
        recent = pd.DataFrame({ds.label: [], "prediction": []})
    else:
        live = joined["is_champion"].astype(bool) & joined[ds.label].notna()
        recent = joined[live & (joined[ds.timestamp] >= window.performance_start)]
    holdout_value = (champion.record["metrics"] or {}).get(metric)
    return TriggerEvidence(
        metric=metric,
        realized=metric_value(metric, recent[ds.label], recent["prediction"]),
        labelled_rows=len(recent),
        champion_holdout=None if holdout_value is None else float(holdout_value),
        champion_cutoff=champion.record["holdout_end"],
        feature_drift=evaluation.feature_drift,
        prediction_drift=evaluation.prediction_drift,
        features=cfg.voting_features,
    )


def _store(
    rt: Runtime, champion: Champion, window: Window, evaluation: WindowEvaluation, decision: TriggerDecision
) -> None:
    """Replace the interval's rows in ``ml.feature_drift`` and ``ml.retrain_triggers``, and upsert the
    drift window's days in ``ml.model_performance`` (one row per version, day and metric) and
    ``ml.performance_estimates`` (:func:`daily_estimates`), in one transaction; a rerun of an older
    interval leaves the rows a later run measured as they are.

    Raises:
        WarehouseError: a write failed; nothing is written.
    """
    import pandas as pd
    from psycopg2.extras import Json

    ctx, name, version = rt.ctx, rt.cfg.model.name, champion.version
    interval = {"model_name": name, "start": ctx.start, "end": ctx.end}
    ids = {"model_name": name, "data_interval_start": ctx.start, "data_interval_end": ctx.end, "run_id": ctx.run_id}
    drift = pd.concat([evaluation.feature_drift, evaluation.prediction_drift], ignore_index=True)
    trigger = {"champion_version": version, "retrain": decision.retrain, "suppressed": decision.suppressed}
    trigger |= {"reasons": Json(decision.reasons), "run_id": ctx.run_id}
    trigger |= {"evidence": Json(_stored_evidence(rt.cfg, window, evaluation, decision))}
    estimates = _estimates(rt.cfg, champion, window)
    with rt.warehouse.bulk() as session:
        session.execute("ml/monitor_clear", interval)
        session.write_frame(drift.assign(model_version=version, window_start=window.start, **ids), "ml.feature_drift")
        session.execute("ml/performance_upsert", ids | _performance_arrays(evaluation.performance))
        session.execute("ml/monitor_trigger_insert", interval | trigger)
        for day in estimates:
            realized_at = ctx.end if day["labelled_rows"] else None
            row = {"model_name": name, "model_version": version, "run_id": ctx.run_id, "as_of": ctx.end}
            session.execute("ml/performance_estimate_upsert", row | {"realized_at": realized_at, **day})


def _performance_arrays(performance: pd.DataFrame) -> dict[str, list]:
    """``sql/ml/performance_upsert.sql``'s parallel arrays from :attr:`WindowEvaluation.performance`
    (long form: ``day``, ``model_version``, ``metric``, ``value``; NaN values become NULL)."""
    if performance.empty:
        return {"model_version": [], "day": [], "metric": [], "value": []}
    values = performance["value"].astype("float64")
    return {
        "model_version": performance["model_version"].astype(int).tolist(),
        "day": performance["day"].tolist(),
        "metric": performance["metric"].astype(str).tolist(),
        "value": [None if v != v else v for v in values.tolist()],
    }


def _stored_evidence(
    cfg: PipelineConfig, window: Window, evaluation: WindowEvaluation, decision: TriggerDecision
) -> dict[str, object]:
    """``ml.retrain_triggers.evidence`` (JSON): the drift window's start (ISO) and rows, where they came
    from (``sources``: :meth:`Sources.evidence`), the predictions made, the champion predictions
    published for the window's entities per version (``champion_predictions``) and where the scores of
    the prediction drift came from (``score_sources``: ``served``, the champion's published ones;
    ``rescored``, scored now on fallback rows), the voting features' count and those drifted, the score
    PSI, the window's pooled realized metric, and the trigger's own evidence
    (:attr:`TriggerDecision.evidence`)."""
    return {
        "window_start": window.start.isoformat(),
        "window_rows": len(window.rows.features),
        "sources": window.sources.evidence(window.rows),
        "predictions_in_window": len(window.made),
        "champion_predictions": evaluation.champion_predictions,
        "score_sources": evaluation.scores,
        "voting_features": len(cfg.voting_features),
        "drifted_features": evaluation.drifted_features(cfg.voting_features),
        "score_psi": evaluation.score_psi,
        "realized_metric": evaluation.realized_metric,
        "realized_value": evaluation.realized,
        "trigger": decision.evidence,
    }


def _estimates(cfg: PipelineConfig, champion: Champion, window: Window) -> list[dict[str, object]]:
    """:func:`daily_estimates` of the days in the drift window (from its start's date); none for a
    regression, or without labels in the feature table."""
    from pipeline.metrics import BINARY_CLASSIFICATION

    if cfg.task != BINARY_CLASSIFICATION or window.joined is None:
        return []
    ds = cfg.dataset
    days = daily_estimates(
        window.joined,
        champion.version,
        champion.holdout_predictions,
        champion.holdout[ds.label],
        ds.timestamp,
        ds.label,
    )
    return [day for day in days if day["day"] >= window.start.date()]


def _result(
    rt: Runtime,
    champion: Champion,
    window: Window,
    evaluation: WindowEvaluation,
    decision: TriggerDecision,
) -> MonitorResult:
    """The run's result, logged in two lines: the window's counts, drift and realized value, then the
    verdict with every rule's numbers (:func:`pipeline.monitoring.trigger.verdict`)."""
    from pipeline.monitoring.trigger import verdict as explain

    cfg = rt.cfg
    drifted = evaluation.drifted_features(cfg.voting_features)
    verdict = explain(decision.retrain, decision.suppressed, decision.evidence)
    sources = window.sources.evidence(window.rows)
    log.info(
        "%s: %s v%d, %d rows (served: %d rows of %d batches over %s h; query: %d rows over %s h), "
        "%d of %d voting features drifted (PSI), realized %s %s",
        rt.ctx.describe(drift_window=(window.start, window.end)),
        cfg.model.name,
        champion.version,
        len(window.rows.features),
        sources["served_rows"],
        sources["served_batches"],
        sources["served_hours"],
        sources["query_rows"],
        sources["query_hours"],
        len(drifted),
        len(cfg.voting_features),
        evaluation.realized_metric,
        _rounded(evaluation.realized),
    )
    log.info("verdict: %s", verdict)
    return MonitorResult(
        retrain=decision.retrain,
        suppressed=decision.suppressed,
        verdict=verdict,
        reasons=decision.reasons,
        as_of=window.end.isoformat(),
        champion_version=champion.version,
        window_rows=len(window.rows.features),
        drifted_features=drifted,
        realized_metric=evaluation.realized_metric,
        realized_value=evaluation.realized,
    )


def daily_estimates(
    joined, champion: int, holdout_scores, holdout_labels, timestamp: str, label: str
) -> list[dict[str, object]]:
    """Per day, the champion's estimated (CBPE) and realized performance on its own predictions.

    Args:
        joined: the predictions made (:func:`pipeline.monitoring.performance.join_labels`):
            ``model_version``, ``is_champion``, ``prediction`` (probability of class 1), the entity's
            ``timestamp`` (tz-aware) and ``label`` (null while not known by the cutoff).
        champion: the champion's version; only its champion predictions are estimated, with the
            calibration fitted on its holdout.
        holdout_scores, holdout_labels: shape (n,): its holdout scores and 0/1 labels.
        timestamp, label: the column names.

    Returns:
        One dict per UTC day (``day``, a date) with predictions, sorted: ``rows``, the
        ``estimated_*`` ROC AUC, Brier, log loss and positive rate, ``labelled_rows`` and the
        ``realized_*`` values (None without labels, ROC AUC None on a single class). No days when the
        holdout has a single class (nothing to calibrate against).
    """
    import numpy as np

    from pipeline.monitoring.estimate import fit_calibrator

    mine = joined[joined["is_champion"].astype(bool) & (joined["model_version"] == champion)]
    labels = np.asarray(holdout_labels, dtype="float64")
    if mine.empty or np.unique(labels[~np.isnan(labels)]).size < 2:
        return []
    known = ~np.isnan(labels)
    calibrator = fit_calibrator(np.asarray(holdout_scores)[known], labels[known])
    days = mine[timestamp].dt.tz_convert("UTC").dt.date
    return [{"day": day, **_day(group, calibrator, label)} for day, group in mine.groupby(days, sort=True)]


def _day(group: pd.DataFrame, calibrator: object, label: str) -> dict[str, object]:
    """One day of :func:`daily_estimates`: ``rows``, the ``estimated_*`` metrics of its scores, and
    ``labelled_rows`` with the ``realized_*`` metrics (None without labels, ROC AUC None on a single
    class)."""
    import numpy as np

    from pipeline.metrics import BINARY_CLASSIFICATION
    from pipeline.monitoring.estimate import estimate_performance
    from pipeline.monitoring.performance import performance_metrics

    estimate = estimate_performance(group["prediction"].to_numpy(dtype="float64"), calibrator)
    labelled = group[group[label].notna()]
    realized = (
        performance_metrics(BINARY_CLASSIFICATION, labelled[label], labelled["prediction"]) if len(labelled) else {}
    )
    return {
        "rows": estimate["rows"],
        **{f"estimated_{m}": _finite(estimate[m]) for m in _DAILY_METRICS},
        "labelled_rows": len(labelled),
        **{f"realized_{m}": _finite(realized.get(m, np.nan)) for m in _DAILY_METRICS},
    }


def _rounded(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _finite(value: float) -> float | None:
    return None if value != value else float(value)
