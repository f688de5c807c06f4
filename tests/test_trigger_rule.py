"""The retrain trigger's rule (pipeline.monitoring.trigger.decide_retrain): realized performance against the
champion's own holdout value, the champion's age, the switchable drift triggers, the cooldown, and the
evidence each decision records."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from pipeline.config import MonitoringConfig, load_config
from pipeline.monitoring.trigger import TriggerEvidence, decide_retrain

UTC = dt.UTC
NOW = dt.datetime(2013, 6, 10, tzinfo=UTC)
MON = MonitoringConfig()  # defaults: window 7 days, 500 rows, margin 0.02, 28 days, drift triggers off


def with_trigger(**rule) -> MonitoringConfig:
    return MON.model_copy(update={"trigger": MON.trigger.model_copy(update=rule)})


def drift_frame(drifted: dict[str, bool]) -> pd.DataFrame:
    return pd.DataFrame({"feature": list(drifted), "metric": "psi", "drifted": list(drifted.values())})


def score_psi(value: float, threshold: float = 0.25) -> pd.DataFrame:
    """A prediction-drift frame: the score's PSI and its effective threshold (as prediction_drift stores it)."""
    return pd.DataFrame(
        {
            "feature": ["score"],
            "metric": ["psi"],
            "value": [value],
            "threshold": [threshold],
            "drifted": [value > threshold],
        }
    )


def evidence(realized=0.70, rows=1_000, holdout=0.72, age_days=10.0, metric="roc_auc", **drift) -> TriggerEvidence:
    return TriggerEvidence(metric, realized, rows, holdout, NOW - dt.timedelta(days=age_days), **drift)


def test_the_defaults_are_the_issue_s_rule():
    rule = MON.trigger
    assert (rule.performance_window_days, rule.min_labelled_rows, rule.margin, rule.max_age_days) == (7, 500, 0.02, 28)
    assert not rule.feature_drift and not rule.prediction_drift
    for name in ("flight_delay", "origin_hourly_delay"):
        assert load_config(name).monitoring.trigger.max_age_days == 28


@pytest.mark.parametrize(
    ("realized", "fires"),
    [(0.75, False), (0.701, False), (0.70, False), (0.699, True), (0.60, True)],  # limit: 0.72 - 0.02 = 0.70
)
def test_performance_fires_below_the_champion_s_holdout_minus_the_margin(realized, fires):
    decision = decide_retrain(evidence(realized=realized), MON, None, NOW)
    assert decision.retrain is fires and decision.suppressed is False
    if fires:
        assert decision.reasons == [decision.reasons[0]] and decision.reasons[0].startswith("performance: realized")
    perf = decision.evidence["performance"]
    assert perf["limit"] == pytest.approx(0.70) and perf["realized"] == realized and perf["fired"] is fires


def test_the_margin_is_relative_to_each_champion():
    # The same realized AUC is fine for a weak champion and a retrain for a strong one.
    assert not decide_retrain(evidence(realized=0.66, holdout=0.67), MON, None, NOW).retrain
    assert decide_retrain(evidence(realized=0.66, holdout=0.70), MON, None, NOW).retrain
    assert not decide_retrain(evidence(realized=0.66, holdout=0.70), with_trigger(margin=0.05), None, NOW).retrain


def test_a_lower_is_better_metric_fires_above_the_holdout_plus_the_margin():
    base = {"metric": "rmse", "holdout": 20.0}
    cfg = with_trigger(margin=1.0)
    assert not decide_retrain(evidence(realized=19.0, **base), cfg, None, NOW).retrain  # better than holdout
    assert not decide_retrain(evidence(realized=21.0, **base), cfg, None, NOW).retrain  # at the limit
    fired = decide_retrain(evidence(realized=21.5, **base), cfg, None, NOW)
    assert fired.retrain and "> champion holdout 20.0000 + margin 1 = 21.0000" in fired.reasons[0]
    assert fired.evidence["higher_is_better"] is False and fired.evidence["performance"]["limit"] == 21.0


@pytest.mark.parametrize("rows", [0, 499])
def test_too_few_labelled_rows_never_fire_the_performance_trigger(rows):
    decision = decide_retrain(evidence(realized=0.5, rows=rows), MON, None, NOW)
    assert not decision.retrain and decision.reasons == []
    assert decide_retrain(evidence(realized=0.5, rows=500), MON, None, NOW).retrain


@pytest.mark.parametrize(("realized", "holdout"), [(None, 0.72), (float("nan"), 0.72), (0.5, None)])
def test_an_unknown_realized_or_holdout_value_does_not_fire(realized, holdout):
    decision = decide_retrain(evidence(realized=realized, holdout=holdout), MON, None, NOW)
    assert not decision.retrain and decision.evidence["performance"]["fired"] is False
    json.dumps(decision.evidence, allow_nan=False)  # NaN is stored as null


def test_an_old_champion_fires_the_age_trigger():
    assert not decide_retrain(evidence(age_days=28), MON, None, NOW).retrain  # exactly the max age: not older
    old = decide_retrain(evidence(age_days=28.5), MON, None, NOW)
    assert old.retrain and old.reasons == ["age: champion's holdout ended 28.5 days ago > max age 28 days"]
    assert old.evidence["age"] == {
        "champion_cutoff": (NOW - dt.timedelta(days=28.5)).isoformat(),
        "age_days": 28.5,
        "max_age_days": 28,
        "fired": True,
    }
    assert not decide_retrain(evidence(age_days=400), with_trigger(max_age_days=None), None, NOW).retrain


def test_drift_is_measured_but_asks_for_a_retrain_only_when_switched_on():
    drift = {
        "feature_drift": drift_frame({"a": True, "b": True, "c": False, "d": False}),
        "prediction_drift": score_psi(0.9),
        "features": ["a", "b", "c", "d"],
    }
    quiet = decide_retrain(evidence(**drift), MON, None, NOW)
    assert not quiet.retrain and quiet.reasons == []
    assert quiet.evidence["feature_drift"] == {
        "enabled": False,
        "drifted": ["a", "b"],
        "voting_features": 4,
        "share": 0.5,
        "trigger_share": 0.5,
        "crossed": True,
    }
    assert quiet.evidence["prediction_drift"] == {"enabled": False, "score_psi": 0.9, "limit": 0.25, "crossed": True}

    features = decide_retrain(evidence(**drift), with_trigger(feature_drift=True), None, NOW)
    assert features.retrain and features.reasons == ["feature drift: 2 of 4 features above their PSI threshold (a, b)"]
    scores = decide_retrain(evidence(**drift), with_trigger(prediction_drift=True), None, NOW)
    assert scores.retrain and scores.reasons == ["prediction drift: score PSI 0.900 > 0.25"]
    both = decide_retrain(
        evidence(realized=0.5, age_days=30, **drift), with_trigger(feature_drift=True, prediction_drift=True), None, NOW
    )
    assert [r.split(":")[0] for r in both.reasons] == ["performance", "age", "feature drift", "prediction drift"]


def test_prediction_drift_must_clear_its_sample_size_threshold_and_the_configured_floor():
    cfg = with_trigger(prediction_drift=True)

    def fires(psi: float, threshold: float) -> bool:
        return decide_retrain(evidence(prediction_drift=score_psi(psi, threshold)), cfg, None, NOW).retrain

    assert not fires(0.5, threshold=0.6)  # above trigger_prediction_psi, below a small window's critical value
    assert fires(0.7, threshold=0.6)
    assert not fires(0.2, threshold=0.1)  # drifted by a lower threshold, but not above the trigger's floor


def test_cooldown_suppresses_but_keeps_the_reasons_and_evidence():
    inside = NOW - dt.timedelta(days=MON.cooldown_days) + dt.timedelta(hours=1)
    outside = NOW - dt.timedelta(days=MON.cooldown_days)
    suppressed = decide_retrain(evidence(realized=0.5), MON, inside, NOW)
    assert not suppressed.retrain and suppressed.suppressed and suppressed.reasons
    assert suppressed.evidence["cooldown"] == {"cooldown_days": 7, "last_trigger": inside.isoformat(), "active": True}
    assert decide_retrain(evidence(realized=0.5), MON, outside, NOW).retrain
    # A cooldown without a reason is no suppression.
    quiet = decide_retrain(evidence(), MON, inside, NOW)
    assert not quiet.retrain and not quiet.suppressed and quiet.evidence["cooldown"]["active"]


def test_the_evidence_is_json():
    decision = decide_retrain(
        evidence(feature_drift=drift_frame({"a": True}), prediction_drift=score_psi(0.3), features=["a"]),
        MON,
        NOW - dt.timedelta(days=2),
        NOW,
    )
    assert json.loads(json.dumps(decision.evidence, allow_nan=False)) == decision.evidence


def test_an_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="unknown metric"):
        decide_retrain(evidence(metric="accuracy"), MON, None, NOW)


def test_airflow_s_pendulum_datetimes_work():
    import pendulum

    now = pendulum.datetime(2013, 6, 10, tz="UTC")  # what a DAG run's data interval end is
    decision = decide_retrain(evidence(age_days=30), MON, pendulum.datetime(2013, 6, 1, tz="UTC"), now)
    assert decision.retrain and decision.evidence["age"]["age_days"] == pytest.approx(30)


@pytest.mark.parametrize(
    ("kwargs", "last", "line"),
    [
        (
            {"rows": 378, "age_days": 3.0},
            None,
            "no retrain: 378 labelled rows < 500 minimum; champion age 3.0 of 28 days",
        ),
        (
            {"realized": 0.69123, "age_days": 29.04},
            None,
            "RETRAIN: realized roc_auc 0.691 < limit 0.700 on 1000 labelled rows; champion age 29.0 > 28 days",
        ),
        (
            {"realized": 0.8, "rows": 600, "metric": "rmse", "holdout": 9.5},
            None,
            "no retrain: realized rmse 0.800 <= limit 9.520 on 600 labelled rows; champion age 10.0 of 28 days",
        ),
        (
            {"realized": None},
            None,
            "no retrain: realized roc_auc undefined on 1000 labelled rows; champion age 10.0 of 28 days",
        ),
        (
            {"realized": 0.5, "prediction_drift": score_psi(0.41)},
            NOW - dt.timedelta(days=2),
            "suppressed by cooldown: realized roc_auc 0.500 < limit 0.700 on 1000 labelled rows; champion age 10.0 "
            "of 28 days; prediction drift: score PSI 0.410 > 0.25; last request 2013-06-08, cooldown 7 days",
        ),
    ],
)
def test_the_verdict_is_one_line_with_every_rule_s_numbers_rounded(kwargs, last, line):
    from pipeline.monitoring.trigger import verdict

    cfg = with_trigger(prediction_drift=True) if "prediction_drift" in kwargs else MON
    decision = decide_retrain(evidence(**kwargs), cfg, last, NOW)
    assert verdict(decision.retrain, decision.suppressed, decision.evidence) == line
