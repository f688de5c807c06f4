"""The monitor DAG's stage: measure drift, realized and estimated performance over a window, decide
whether to ask for a retrain, and store it all."""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import TypedDict

from pipeline.stages.runtime import Runtime

log = logging.getLogger(__name__)


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

    - Measure (:func:`pipeline.monitoring.window.evaluate_window`): the last
      ``monitoring.window_days`` of the feature table against the champion's training rows (from
      its stored snapshot), its scores there against its holdout scores, and the predictions
      actually made for the window joined to the labels observed before the cutoff (the interval's
      end; :func:`pipeline.models.train.known_labels`).
    - Evidence (:class:`pipeline.monitoring.trigger.TriggerEvidence`): the promotion metric of the
      champion predictions of the last ``monitoring.trigger.performance_window_days`` whose labels
      were known before the cutoff, the champion's holdout value of it (``ml.model_versions.metrics``)
      and its holdout end.
    - Decision: :func:`pipeline.monitoring.trigger.decide_retrain` with the cooldown counted from the
      last requested retrain in ``ml.retrain_triggers``.
    - Estimates (binary classifiers): per day of the window, the current champion's predictions
      scored by CBPE (:func:`pipeline.monitoring.estimate.estimate_performance`, calibrated on its
      holdout) next to their realized metrics where labels are known.

    Results replace the interval's rows in ``ml.feature_drift``, ``ml.model_performance`` and
    ``ml.retrain_triggers`` and upsert the window's days in ``ml.performance_estimates``, in one
    transaction.

    Raises:
        NoChampionError: nothing to monitor yet.
        EmptyIntervalError: the window has no rows: "nothing to monitor" (skipped or failed as
            ``schedule.on_empty`` says); nothing is written.
    """
    import pandas as pd
    from psycopg2 import sql
    from psycopg2.extras import Json

    from pipeline.data.warehouse import statement
    from pipeline.features.build import extract_feature_table, from_parquet
    from pipeline.metrics import BINARY_CLASSIFICATION, headline_metric
    from pipeline.models import registry
    from pipeline.models.predict import predict
    from pipeline.models.train import TimeSplit, known_labels, split_by_time
    from pipeline.monitoring.performance import join_labels, metric_value
    from pipeline.monitoring.trigger import TriggerEvidence, decide_retrain
    from pipeline.monitoring.window import evaluate_window

    cfg, ctx, warehouse = rt.cfg, rt.ctx, rt.warehouse
    mon, ds, name = cfg.monitoring, cfg.dataset, cfg.model.name
    record = registry.require_champion(warehouse, name)
    champion = record["version"]
    model = registry.load_model(rt.store, record)
    reference = from_parquet(registry.load_training_snapshot(rt.store, record))
    split = TimeSplit(record["train_start"], record["holdout_start"], record["holdout_end"])
    task = cfg.task
    reference_train, reference_holdout = split_by_time(reference, split, ds, task)
    window_start = ctx.end - dt.timedelta(days=mon.window_days)
    performance_start = ctx.end - dt.timedelta(days=mon.trigger.performance_window_days)
    start = min(window_start, performance_start)
    extracted = extract_feature_table(warehouse, ds, cfg.cutoff_rule, start, ctx.end, require_label=False)
    extracted = known_labels(extracted, ds, ctx.end)
    current = extracted[extracted[ds.timestamp] >= window_start]
    result = MonitorResult(
        retrain=False,
        suppressed=False,
        verdict="no retrain",
        reasons=[],
        as_of=ctx.end.isoformat(),
        champion_version=champion,
        window_rows=len(current),
        drifted_features=[],
        realized_metric=headline_metric(task),
        realized_value=None,
    )
    if current.empty:
        rt.nothing_to_do(f"no {ds.name} rows in [{window_start}, {ctx.end}): nothing to monitor")

    window = {"model_name": name, "start": start, "end": ctx.end}
    if warehouse.fetch("migrations/table_exists", {"table": cfg.predictions.table})[0]["present"]:
        key = sql.SQL(", ").join(map(sql.Identifier, ds.key))
        made = warehouse.read_frame(statement("ml/predictions_in_window", table=cfg.predictions.table, key=key), window)
    else:  # no predict run yet: nothing was predicted, so nothing is realized
        made = pd.DataFrame(columns=[*ds.key, "model_version", "is_champion", "prediction"])
    last = warehouse.fetch("ml/monitor_last_trigger", {"model_name": name, "end": ctx.end})[0]["last_trigger"]
    holdout_predictions = predict(model, reference_holdout, ds, task)
    evaluation = evaluate_window(model, reference_train, holdout_predictions, current, made, ds, mon, task)
    voting = cfg.voting_features
    metric = cfg.promotion_metric
    # The predictions made, with their entities' timestamps and the labels known before the cutoff.
    joined = join_labels(made, extracted, ds.key, ds.timestamp, ds.label) if ds.label in extracted.columns else None
    recent = (
        pd.DataFrame({ds.label: [], "prediction": []})
        if joined is None
        else joined[
            joined["is_champion"].astype(bool) & (joined[ds.timestamp] >= performance_start) & joined[ds.label].notna()
        ]
    )
    holdout_value = (record["metrics"] or {}).get(metric)
    evidence = TriggerEvidence(
        metric=metric,
        realized=metric_value(metric, recent[ds.label], recent["prediction"]),
        labelled_rows=len(recent),
        champion_holdout=None if holdout_value is None else float(holdout_value),
        champion_cutoff=record["holdout_end"],
        feature_drift=evaluation.feature_drift,
        prediction_drift=evaluation.prediction_drift,
        features=voting,
    )
    decision = decide_retrain(evidence, mon, last, ctx.end)
    drift, performance = evaluation.feature_drift, evaluation.performance
    drifted = evaluation.drifted_features(voting)
    stored_evidence = {
        "window_start": window_start.isoformat(),
        "window_rows": len(current),
        "predictions_in_window": len(made),
        "voting_features": len(voting),
        "drifted_features": drifted,
        "score_psi": evaluation.score_psi,
        "realized_metric": evaluation.realized_metric,
        "realized_value": evaluation.realized,
        "trigger": decision.evidence,
    }
    estimates = (
        daily_estimates(joined, champion, holdout_predictions, reference_holdout[ds.label], ds.timestamp, ds.label)
        if task == BINARY_CLASSIFICATION and joined is not None
        else []
    )

    ids = {"model_name": name, "data_interval_start": ctx.start, "data_interval_end": ctx.end, "run_id": ctx.run_id}
    drift_rows = pd.concat([drift, evaluation.prediction_drift], ignore_index=True).assign(
        model_version=champion, window_start=window_start, **ids
    )
    with warehouse.bulk() as session:
        session.execute("ml/monitor_clear", {"model_name": name, "start": ctx.start, "end": ctx.end})
        session.write_frame(drift_rows, "ml.feature_drift")
        if len(performance):
            session.write_frame(performance.assign(**ids), "ml.model_performance")
        session.execute(
            "ml/monitor_trigger_insert",
            {
                "model_name": name,
                "start": ctx.start,
                "end": ctx.end,
                "champion_version": champion,
                "retrain": decision.retrain,
                "suppressed": decision.suppressed,
                "reasons": Json(decision.reasons),
                "run_id": ctx.run_id,
                "evidence": Json(stored_evidence),
            },
        )
        for day in estimates:
            if day["day"] >= window_start.date():
                as_of = {"as_of": ctx.end, "realized_at": ctx.end if day["labelled_rows"] else None}
                session.execute(
                    "ml/performance_estimate_upsert",
                    {"model_name": name, "model_version": champion, "run_id": ctx.run_id, **as_of, **day},
                )
    verdict = "RETRAIN" if decision.retrain else ("suppressed by cooldown" if decision.suppressed else "no retrain")
    log.info(
        "monitor %s v%d [%s, %s): %d rows, %d of %d voting features drifted (PSI), realized %s %s; %s over the "
        "last %d days %s on %d labelled rows (holdout %s) -> %s %s",
        name,
        champion,
        window_start,
        ctx.end,
        len(current),
        len(drifted),
        len(voting),
        evaluation.realized_metric,
        evaluation.realized,
        metric,
        mon.trigger.performance_window_days,
        evidence.realized,
        evidence.labelled_rows,
        evidence.champion_holdout,
        verdict,
        decision.reasons,
    )
    return {
        **result,
        "retrain": decision.retrain,
        "suppressed": decision.suppressed,
        "verdict": f"{verdict}: {'; '.join(decision.reasons) or 'no threshold crossed'}",
        "reasons": decision.reasons,
        "drifted_features": drifted,
        "realized_value": evaluation.realized,
    }


def daily_estimates(
    joined, champion: int, holdout_scores, holdout_labels, timestamp: str, label: str
) -> list[dict[str, object]]:
    """Per day, the champion's estimated (CBPE) and realized performance on its own predictions.

    Args:
        joined: the predictions made (:func:`pipeline.monitoring.performance.join_labels`):
            ``model_version``, ``is_champion``, ``prediction`` (probability of class 1), the entity's
            ``timestamp`` (tz-aware) and ``label`` (null while not known before the cutoff).
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

    from pipeline.metrics import BINARY_CLASSIFICATION
    from pipeline.monitoring.estimate import estimate_performance, fit_calibrator
    from pipeline.monitoring.performance import performance_metrics

    mine = joined[joined["is_champion"].astype(bool) & (joined["model_version"] == champion)]
    labels = np.asarray(holdout_labels, dtype="float64")
    if mine.empty or np.unique(labels[~np.isnan(labels)]).size < 2:
        return []
    known = ~np.isnan(labels)
    calibrator = fit_calibrator(np.asarray(holdout_scores)[known], labels[known])
    days = mine[timestamp].dt.tz_convert("UTC").dt.date
    out = []
    for day, group in mine.groupby(days, sort=True):
        scores = group["prediction"].to_numpy(dtype="float64")
        estimate = estimate_performance(scores, calibrator)
        labelled = group[group[label].notna()]
        realized = (
            performance_metrics(BINARY_CLASSIFICATION, labelled[label], labelled["prediction"]) if len(labelled) else {}
        )
        out.append(
            {
                "day": day,
                "rows": estimate["rows"],
                **{f"estimated_{m}": _finite(estimate[m]) for m in ("roc_auc", "brier", "log_loss", "positive_rate")},
                "labelled_rows": len(labelled),
                **{
                    f"realized_{m}": _finite(realized.get(m, math.nan))
                    for m in ("roc_auc", "brier", "log_loss", "positive_rate")
                },
            }
        )
    return out


def _finite(value: float) -> float | None:
    return None if value != value else float(value)
