"""Confidence-based performance estimation (pipeline.monitoring.estimate) against hand-computed and exactly
enumerated expectations, against realized values on large samples, and the monitor storing estimates next
to realized values (ml.performance_estimates)."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from pipeline.monitoring.estimate import estimate_performance, fit_calibrator
from pipeline.stages import RunContext, Runtime, monitor, predict, retrain
from pipeline.stages.runtime import open_warehouse

UTC = dt.UTC
DAY = dt.timedelta(days=1)
MARCH_3 = dt.datetime(2013, 3, 3, tzinfo=UTC)


def enumerate_expectations(p: np.ndarray, s: np.ndarray) -> dict[str, float]:
    """Over every label vector y (probability prod p^y (1-p)^(1-y)): E[concordant pairs] / E[positive-negative
    pairs] ranking by s (ties count a half), E[Brier of s], E[log loss of s]."""
    concordant = pairs = brier = loss = 0.0
    for y in itertools.product((0, 1), repeat=len(p)):
        y = np.array(y)
        weight = float(np.prod(np.where(y == 1, p, 1 - p)))
        pos, neg = s[y == 1], s[y == 0]
        diff = pos[:, None] - neg[None, :]
        concordant += weight * float((diff > 0).sum() + 0.5 * (diff == 0).sum())
        pairs += weight * len(pos) * len(neg)
        brier += weight * float(np.mean((s - y) ** 2))
        loss += weight * float(np.mean(-y * np.log(s) - (1 - y) * np.log(1 - s)))
    return {"roc_auc": concordant / pairs, "brier": brier, "log_loss": loss}


def test_a_three_row_example_by_hand():
    # Pairs (i above j) weighted p_i (1 - p_j): 0.8*0.5 + 0.8*0.8 + 0.5*0.8 = 1.44. All pairs i != j:
    # P * Q - sum p (1 - p) = 1.5 * 1.5 - (0.16 + 0.25 + 0.16) = 1.68. ROC AUC 1.44 / 1.68 = 6/7.
    # Brier of calibrated scores: mean p (1 - p) = 0.57 / 3 = 0.19.
    est = estimate_performance([0.2, 0.5, 0.8])
    assert est["roc_auc"] == pytest.approx(6 / 7)
    assert est["brier"] == pytest.approx(0.19)
    entropy = -np.mean([p * np.log(p) + (1 - p) * np.log(1 - p) for p in (0.2, 0.5, 0.8)])
    assert est["log_loss"] == pytest.approx(entropy)
    assert est["positive_rate"] == pytest.approx(0.5) and est["rows"] == 3
    # Accuracy at 0.5: rows scored 0.5 and 0.8 are called positive (right with p), 0.2 negative (right with 0.8).
    assert est["accuracy"] == pytest.approx((0.8 + 0.5 + 0.8) / 3)
    # NannyML's plain trapezoid counts each row's pair with itself: (1.44 + 0.57 / 2) / 2.25 = 0.767, not 6/7.
    assert est["roc_auc"] - (1.44 + 0.57 / 2) / 2.25 > 0.08


@pytest.mark.parametrize(
    "scores",
    [[0.1, 0.4, 0.4, 0.8], [0.05, 0.3, 0.6, 0.6, 0.6, 0.95], [0.3, 0.3, 0.7], [0.01, 0.2, 0.5, 0.9, 0.99, 0.7]],
)
def test_calibrated_scores_match_exact_enumeration(scores):
    s = np.array(scores)
    exact = enumerate_expectations(s, s)
    est = estimate_performance(s)
    for metric in ("roc_auc", "brier", "log_loss"):
        assert est[metric] == pytest.approx(exact[metric], rel=1e-12), metric


def test_a_calibrator_s_probabilities_are_what_the_expectations_use():
    # Labels (1, 0, 0, 1) in increasing score order: pool adjacent violators pools the first three to 1/3.
    calibrator = fit_calibrator([0.2, 0.4, 0.6, 0.9], [1, 0, 0, 1])
    s = np.array([0.2, 0.4, 0.6, 0.9])
    p = calibrator.predict(s)
    assert p == pytest.approx([1 / 3, 1 / 3, 1 / 3, 1.0])
    exact = enumerate_expectations(p, s)
    est = estimate_performance(s, calibrator)
    for metric in ("roc_auc", "brier", "log_loss"):
        assert est[metric] == pytest.approx(exact[metric], rel=1e-12), metric
    assert est["positive_rate"] == pytest.approx(0.5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_on_large_calibrated_samples_the_estimate_is_close_to_the_realized_value(seed):
    rng = np.random.default_rng(seed)
    s = rng.beta(2, 5, 40_000)
    y = (rng.random(s.size) < s).astype(int)
    est = estimate_performance(s)
    # Standard errors at 40,000 rows and about 29 % positives: ROC AUC ~0.003, Brier ~0.001.
    assert est["roc_auc"] == pytest.approx(roc_auc_score(y, s), abs=0.012)
    assert est["brier"] == pytest.approx(brier_score_loss(y, s), abs=0.004)
    assert est["log_loss"] == pytest.approx(log_loss(y, s), abs=0.01)
    assert est["positive_rate"] == pytest.approx(y.mean(), abs=0.01)


def test_miscalibrated_scores_need_the_holdout_calibrator():
    """The model's score is s**3 of the true probability s: same ranking, far from calibrated. The calibrator
    is fitted on a holdout; production rows come from another mix of inputs (covariate shift)."""
    rng = np.random.default_rng(7)
    holdout_p = rng.beta(2, 4, 30_000)
    holdout_y = (rng.random(holdout_p.size) < holdout_p).astype(int)
    calibrator = fit_calibrator(holdout_p**3, holdout_y)
    p = rng.beta(3, 3, 30_000)  # production: more rows with high probabilities
    y = (rng.random(p.size) < p).astype(int)
    score = p**3
    realized = {"roc_auc": roc_auc_score(y, score), "brier": brier_score_loss(y, score), "log_loss": log_loss(y, score)}
    calibrated = estimate_performance(score, calibrator)
    naive = estimate_performance(score)
    assert calibrated["roc_auc"] == pytest.approx(realized["roc_auc"], abs=0.015)
    assert calibrated["brier"] == pytest.approx(realized["brier"], abs=0.005)
    assert calibrated["log_loss"] == pytest.approx(realized["log_loss"], abs=0.02)
    assert calibrated["positive_rate"] == pytest.approx(y.mean(), abs=0.01)
    # Taking the raw scores as probabilities is badly wrong on this model.
    assert abs(naive["roc_auc"] - realized["roc_auc"]) > 0.05
    assert abs(naive["brier"] - realized["brier"]) > 0.05


def test_edge_cases_and_bad_input():
    assert estimate_performance([0.3, 0.3, 0.3])["roc_auc"] == pytest.approx(0.5)  # one tie group: chance
    assert np.isnan(estimate_performance([1.0, 1.0])["roc_auc"])  # no negatives expected: undefined
    assert estimate_performance([0.0, 1.0])["log_loss"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="no scores"):
        estimate_performance([])
    with pytest.raises(ValueError, match="probabilities"):
        estimate_performance([0.2, 1.2])
    with pytest.raises(ValueError, match="probabilities"):
        estimate_performance([0.2, np.nan])
    with pytest.raises(ValueError, match="single class"):
        fit_calibrator([0.1, 0.9], [1, 1])
    with pytest.raises(ValueError, match="2 holdout scores but 3"):
        fit_calibrator([0.1, 0.9], [1, 0, 1])
    with pytest.raises(ValueError, match="0/1"):
        fit_calibrator([0.1, 0.9], [1, 2])


def estimates(cfg) -> pd.DataFrame:
    with open_warehouse(cfg).transaction() as cur:
        cur.execute("SELECT * FROM ml.performance_estimates ORDER BY model_version, day")
        columns = [c.name for c in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=columns)


def predict_hours(cfg, cutoffs: range) -> None:
    """Hourly predict runs cut off at 03-03 ``h``:00 UTC for each ``h`` in ``cutoffs`` (each scores the
    hour after next, the demo models' rule)."""
    hour = dt.timedelta(hours=1)
    for h in cutoffs:
        cutoff = MARCH_3 + h * hour
        predict.run(Runtime(cfg, RunContext("predict", f"p{h}", cutoff - hour, cutoff)))


def test_the_monitor_stores_estimates_next_to_realized_values(fresh_seeded_url, tmp_path, make_config):
    cfg = make_config(fresh_seeded_url, str(tmp_path), model={"params": {"max_iter": 20}})
    retrain.run(Runtime(cfg, RunContext("retrain", "r1", MARCH_3 - DAY, MARCH_3)))
    predict_hours(cfg, range(12, 20))  # flights departing 13:00 to 21:00 UTC on 03-03
    first = RunContext("monitor", "m1", MARCH_3, MARCH_3 + DAY)
    result = monitor.measure(Runtime(cfg, first))
    monitor.measure(Runtime(cfg, first))  # a rerun of the same interval writes the same row
    rows = estimates(cfg)
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row["model_name"], row["model_version"], row["day"]) == ("flight_delay", 1, dt.date(2013, 3, 3))
    wh = open_warehouse(cfg)
    with wh.transaction() as cur:
        cur.execute("SELECT count(*) FROM ml.flight_delay_predictions")
        assert row["rows"] == cur.fetchone()[0]
        cur.execute(
            "SELECT metric, value FROM ml.model_performance WHERE day = '2013-03-03' AND data_interval_end = %s",
            (MARCH_3 + DAY,),
        )
        realized = dict(cur.fetchall())
        cur.execute("SELECT evidence FROM ml.retrain_triggers WHERE data_interval_end = %s", (MARCH_3 + DAY,))
        stored = cur.fetchone()[0]
    # Realized: the same numbers as ml.model_performance; estimated: from the scores alone, plausible values.
    assert row["labelled_rows"] == realized["rows"] > 0
    for metric in ("roc_auc", "brier", "log_loss", "positive_rate"):
        assert row[f"realized_{metric}"] == pytest.approx(realized[metric])
    assert 0.5 < row["estimated_roc_auc"] < 1 and 0 < row["estimated_brier"] < 0.25
    assert 0 < row["estimated_log_loss"] < np.log(2) and 0 < row["estimated_positive_rate"] < 1
    assert row["estimated_at"] == row["realized_at"] == row["as_of"] == MARCH_3 + DAY
    # The trigger's evidence: the champion's labelled predictions of the last 7 days and its holdout value.
    trigger = stored["trigger"]
    assert trigger["performance"]["labelled_rows"] == realized["rows"]
    assert trigger["performance"]["realized"] == pytest.approx(realized["roc_auc"])
    with wh.transaction() as cur:
        cur.execute("SELECT metrics->>'roc_auc', holdout_end FROM ml.model_versions WHERE version = 1")
        holdout, holdout_end = cur.fetchone()
    assert trigger["performance"]["champion_holdout"] == pytest.approx(float(holdout))
    assert trigger["age"]["champion_cutoff"] == holdout_end.isoformat()
    assert result["reasons"] == [r for r in result["reasons"] if r.startswith(("performance", "age"))]
    json.dumps(stored, allow_nan=False)

    # A later run updates the day (as_of, realized_at) but keeps when it was first estimated; rerunning the
    # older interval afterwards does not overwrite the newer row.
    later = RunContext("monitor", "m2", MARCH_3 + DAY, MARCH_3 + 2 * DAY)
    monitor.measure(Runtime(cfg, later))
    monitor.measure(Runtime(cfg, first))
    again = estimates(cfg).iloc[0]
    assert len(estimates(cfg)) == 1
    assert again["estimated_at"] == MARCH_3 + DAY and again["as_of"] == again["realized_at"] == MARCH_3 + 2 * DAY
    assert again["run_id"] == "m2" and again["estimated_roc_auc"] == pytest.approx(row["estimated_roc_auc"])

    # `pipeline summary` shows the latest decision's verdict, every rule with its numbers.
    from pipeline.cli import summary_report
    from pipeline.monitoring.trigger import verdict
    from pipeline.summary import latest_monitor

    latest = latest_monitor(open_warehouse(cfg), "flight_delay")
    line = verdict(latest["retrain"], latest["suppressed"], latest["evidence"]["trigger"])
    assert f"\n  {line}\n" in summary_report(cfg)
    assert line.startswith("no retrain: ") and "champion age " in line and " of 28 days" in line


def test_a_regression_has_no_estimates(fresh_seeded_url, tmp_path, make_config):
    cfg = make_config(fresh_seeded_url, str(tmp_path), name="origin_hourly_delay", model={"params": {"max_iter": 20}})
    retrain.run(Runtime(cfg, RunContext("retrain", "r1", MARCH_3 - DAY, MARCH_3)))
    predict_hours(cfg, range(12, 16))
    result = monitor.measure(Runtime(cfg, RunContext("monitor", "m1", MARCH_3, MARCH_3 + DAY)))
    assert estimates(cfg).empty
    with open_warehouse(cfg).transaction() as cur:
        cur.execute("SELECT evidence->'trigger'->'performance' FROM ml.retrain_triggers")
        performance = cur.fetchone()[0]
    assert result["realized_metric"] == "rmse" and performance["labelled_rows"] > 0
    assert performance["realized"] == pytest.approx(result["realized_value"])
