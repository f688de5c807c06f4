"""The monitor DAG's stage: measure drift and realized performance over a window, decide whether to
ask for a retrain, and store it all."""

from __future__ import annotations

import datetime as dt
import logging
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
    """Measure drift and realized performance over the window that ends at the data interval's end,
    decide whether to ask for a retrain, and store it all (idempotent per interval).

    - Measure (:func:`pipeline.monitoring.window.evaluate_window`): the last
      ``monitoring.window_days`` of the feature table against the champion's training rows (from
      its stored snapshot), its scores there against its holdout scores, and the predictions
      actually made for the window joined to the labels observed before the cutoff (the interval's
      end; :func:`pipeline.models.train.known_labels`).
    - Decision: :func:`pipeline.monitoring.trigger.decide_retrain` with the cooldown counted from the
      last requested retrain in ``ml.retrain_triggers``.

    Results replace the interval's rows in ``ml.feature_drift``, ``ml.model_performance`` and
    ``ml.retrain_triggers`` in one transaction.

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
    from pipeline.models.train import TimeSplit, known_labels, predict, split_by_time
    from pipeline.monitoring.trigger import decide_retrain
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
    current = extract_feature_table(warehouse, ds, cfg.cutoff_rule, window_start, ctx.end, require_label=False)
    if ds.label_known_at in current.columns:  # realized performance: only labels observed before the cutoff
        current = known_labels(current, ds, ctx.end)
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

    window = {"model_name": name, "start": window_start, "end": ctx.end}
    if warehouse.fetch("migrations/table_exists", {"table": cfg.predictions.table})[0]["present"]:
        key = sql.SQL(", ").join(map(sql.Identifier, ds.key))
        made = warehouse.read_frame(statement("ml/predictions_in_window", table=cfg.predictions.table, key=key), window)
    else:  # no predict run yet: nothing was predicted, so nothing is realized
        made = pd.DataFrame(columns=[*ds.key, "model_version", "is_champion", "prediction"])
    last = warehouse.fetch("ml/monitor_last_trigger", {"model_name": name, "end": ctx.end})[0]["last_trigger"]
    holdout_predictions = predict(model, reference_holdout, ds, task)
    evaluation = evaluate_window(model, reference_train, holdout_predictions, current, made, ds, mon, task)
    voting = cfg.voting_features
    # The realized-performance trigger (trigger_min_roc_auc) is a classifier's.
    realized_auc = evaluation.realized if task == BINARY_CLASSIFICATION else None
    decision = decide_retrain(
        evaluation.feature_drift, evaluation.prediction_drift, realized_auc, mon, voting, last, ctx.end
    )
    drift, performance = evaluation.feature_drift, evaluation.performance
    drifted = evaluation.drifted_features(voting)
    evidence = {
        "window_start": window_start.isoformat(),
        "window_rows": len(current),
        "predictions_in_window": len(made),
        "voting_features": len(voting),
        "drifted_features": drifted,
        "score_psi": evaluation.score_psi,
        "realized_metric": evaluation.realized_metric,
        "realized_value": evaluation.realized,
    }

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
                "evidence": Json(evidence),
            },
        )
    verdict = "RETRAIN" if decision.retrain else ("suppressed by cooldown" if decision.suppressed else "no retrain")
    log.info(
        "monitor %s v%d [%s, %s): %d rows, %d of %d voting features drifted (PSI), realized %s %s -> %s %s",
        name,
        champion,
        window_start,
        ctx.end,
        len(current),
        len(drifted),
        len(voting),
        evaluation.realized_metric,
        evaluation.realized,
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
