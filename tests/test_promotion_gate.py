"""The promotion gate that knows noise: a paired bootstrap interval of each metric's
difference decides; a clearly worse challenger is refused, one equal within noise or better is promoted,
a guardrail degradation refuses; the old improvement rule is kept for comparison; the decision and its
intervals land in ``ml.model_versions.decision_evidence``."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from scipy.special import expit, logit

from pipeline.config import ConfigError, PromotionConfig, load_config
from pipeline.data import schema
from pipeline.metrics import BINARY_CLASSIFICATION, REGRESSION, default_guardrails, holdout_metric_names
from pipeline.models import registry
from pipeline.models.evaluate import METRIC_FUNCTIONS, EvaluationError
from pipeline.models.promotion import PromotionEvidence, decide_challenger, decide_promotion, resampled_metric
from pipeline.stages import RunContext, Runtime, retrain
from pipeline.stages.runtime import open_warehouse

UTC = dt.UTC
N = 6000
CLASSIFIER = PromotionConfig(metric="roc_auc")  # defaults: noninferiority, tolerance 0.005, guardrails log_loss, brier
REGRESSOR = PromotionConfig(metric="rmse", tolerance=0.25)  # default guardrail: mae 0.25


def classification(seed: int = 0):
    """Labels drawn from known probabilities, and a champion that sees their log-odds with noise 0.5."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(-1.5, 1.2, N)
    y = rng.binomial(1, expit(true_logit))

    def model(noise: float) -> np.ndarray:
        return expit(true_logit + rng.normal(0, noise, N))

    return y, model, model(0.5)


def test_a_clearly_worse_challenger_is_refused():
    y, model, champion = classification()
    decision = decide_promotion(CLASSIFIER, BINARY_CLASSIFICATION, y, model(2.0), champion)

    primary = decision.comparisons[0]
    assert not decision.promote
    assert primary.metric == "roc_auc" and primary.worse and primary.ci_high < -CLASSIFIER.tolerance
    assert decision.reason.startswith("worse than the champion beyond tolerance on roc_auc")
    assert "(95% CI), tolerance 0.005: worse beyond tolerance" in decision.reason


def test_a_challenger_equal_within_noise_is_promoted_because_it_is_fresher():
    y, model, champion = classification()
    decision = decide_promotion(CLASSIFIER, BINARY_CLASSIFICATION, y, model(0.5), champion)

    assert decision.promote
    for c in decision.comparisons:  # every interval straddles 0: no detectable difference either way
        assert c.ci_low < 0 < c.ci_high and not c.worse and not c.better
    assert decision.reason.startswith("not worse than the champion beyond tolerance on any metric")


def test_a_clearly_better_challenger_is_promoted():
    y, model, champion = classification()
    decision = decide_promotion(CLASSIFIER, BINARY_CLASSIFICATION, y, model(0.1), champion)

    assert decision.promote
    assert all(c.better for c in decision.comparisons)
    assert ": better" in decision.reason


def test_a_miscalibrated_challenger_with_the_same_ranking_is_refused_by_the_guardrails():
    y, _, champion = classification()
    overconfident = expit(3 * logit(champion) + 2)  # monotone: the same ROC AUC, far worse probabilities
    decision = decide_promotion(CLASSIFIER, BINARY_CLASSIFICATION, y, overconfident, champion)

    auc, log_loss, brier = decision.comparisons
    assert not decision.promote
    assert (auc.metric, auc.difference, auc.worse) == ("roc_auc", 0.0, False)
    assert (log_loss.role, log_loss.worse, brier.worse) == ("guardrail", True, True)
    assert "beyond tolerance on log_loss, brier" in decision.reason


def test_the_difference_is_oriented_and_quotes_the_metric_functions():
    y, model, champion = classification()
    challenger = model(2.0)
    decision = decide_promotion(CLASSIFIER, BINARY_CLASSIFICATION, y, challenger, champion)

    for c in decision.comparisons:
        value = METRIC_FUNCTIONS[c.metric]
        assert (c.challenger, c.champion) == (value(y, challenger), value(y, champion))
        raw = c.challenger - c.champion
        assert c.difference == pytest.approx(raw if c.higher_is_better else -raw)
        assert c.ci_low <= c.difference <= c.ci_high
    assert [c.higher_is_better for c in decision.comparisons] == [True, False, False]


def test_the_decision_is_reproducible_and_json_able():
    y, model, champion = classification()
    challenger = model(0.5)
    first = decide_promotion(CLASSIFIER, BINARY_CLASSIFICATION, y, challenger, champion, seed=3)
    again = decide_promotion(CLASSIFIER, BINARY_CLASSIFICATION, y, challenger, champion, seed=3)
    other = decide_promotion(CLASSIFIER, BINARY_CLASSIFICATION, y, challenger, champion, seed=4)

    assert json.loads(json.dumps(first.to_dict())) == again.to_dict()
    assert first.comparisons[0].ci_low != other.comparisons[0].ci_low  # the seed drives the resamples
    assert (first.rule, first.confidence, first.resamples, first.rows) == ("noninferiority", 0.95, 1000, N)


def test_a_wider_confidence_gives_a_wider_interval():
    y, model, champion = classification()
    challenger = model(0.5)
    narrow = decide_promotion(CLASSIFIER, BINARY_CLASSIFICATION, y, challenger, champion).comparisons[0]
    wide = decide_promotion(
        CLASSIFIER.model_copy(update={"confidence": 0.99}), BINARY_CLASSIFICATION, y, challenger, champion
    ).comparisons[0]

    assert wide.ci_low < narrow.ci_low and wide.ci_high > narrow.ci_high


# --- regression --------------------------------------------------------------------------------------


def regression(seed: int = 0):
    rng = np.random.default_rng(seed)
    signal = rng.normal(15, 10, N)
    y = signal + rng.normal(0, 5, N)

    def model(noise: float) -> np.ndarray:
        return signal + rng.normal(0, noise, N)

    return y, model, model(2.0)


@pytest.mark.parametrize(("noise", "promote"), [(6.0, False), (2.0, True), (0.5, True)])
def test_regression_worse_is_refused_equal_and_better_are_promoted(noise, promote):
    y, model, champion = regression()
    decision = decide_promotion(REGRESSOR, REGRESSION, y, model(noise), champion)

    assert decision.promote is promote
    assert [c.metric for c in decision.comparisons] == ["rmse", "mae"]
    rmse = decision.comparisons[0]
    assert rmse.worse is not promote and rmse.higher_is_better is False


def test_regression_mae_guardrail_refuses_a_model_that_wins_rmse_on_skewed_errors():
    """Skewed noise: predicting the mean minimises RMSE, the median MAE. A challenger that moves from
    the median to the mean wins RMSE by about 0.46 and loses about 0.43 of MAE (exponential noise, scale 10)."""
    rng = np.random.default_rng(0)
    y = rng.exponential(10, N)
    median_model, mean_model = np.full(N, 10 * np.log(2)), np.full(N, 10.0)
    decision = decide_promotion(REGRESSOR, REGRESSION, y, mean_model, median_model)

    rmse, mae = decision.comparisons
    assert rmse.better and not rmse.worse
    assert mae.role == "guardrail" and mae.worse
    assert not decision.promote and "beyond tolerance on mae" in decision.reason


# --- the old rule, for comparison --------------------------------------------------------------------


def test_the_improvement_rule_promotes_a_noisy_gain_that_noninferiority_refuses():
    """A challenger that gains ROC AUC on the holdout but is worse on log loss and Brier was
    promoted by "beat the champion". Here: a sharper ranking, overconfident probabilities."""
    y, model, champion = classification()
    challenger = expit(2.5 * logit(model(0.4)) + 2)
    improvement = decide_promotion(
        CLASSIFIER.model_copy(update={"rule": "improvement"}), BINARY_CLASSIFICATION, y, challenger, champion
    )
    noninferiority = decide_promotion(CLASSIFIER, BINARY_CLASSIFICATION, y, challenger, champion)

    assert improvement.comparisons[0].difference > 0
    assert improvement.promote and not noninferiority.promote
    assert improvement.comparisons == noninferiority.comparisons  # the same evidence, a different rule
    assert (
        improvement.reason.startswith("improvement rule: roc_auc") and "required > 0 and >= 0.0" in improvement.reason
    )


def test_the_improvement_rule_refuses_a_point_loss_within_noise():
    y, model, champion = classification()
    challenger = next(
        c
        for c in (model(0.5) for _ in range(20))
        if METRIC_FUNCTIONS["roc_auc"](y, c) < METRIC_FUNCTIONS["roc_auc"](y, champion)
    )
    decision = decide_promotion(CLASSIFIER, BINARY_CLASSIFICATION, y, challenger, champion)
    old = decide_promotion(
        CLASSIFIER.model_copy(update={"rule": "improvement"}), BINARY_CLASSIFICATION, y, challenger, champion
    )

    assert decision.comparisons[0].ci_low < decision.comparisons[0].difference < 0 < decision.comparisons[0].ci_high
    assert decision.promote and not old.promote


def test_min_improvement_is_the_improvement_rules_margin():
    y, model, champion = classification()
    challenger = model(0.1)
    gain = decide_promotion(CLASSIFIER, BINARY_CLASSIFICATION, y, challenger, champion).comparisons[0].difference
    rule = CLASSIFIER.model_copy(update={"rule": "improvement"})

    assert decide_promotion(
        rule.model_copy(update={"min_improvement": gain / 2}), BINARY_CLASSIFICATION, y, challenger, champion
    ).promote
    assert not decide_promotion(
        rule.model_copy(update={"min_improvement": gain * 2}), BINARY_CLASSIFICATION, y, challenger, champion
    ).promote


# --- the vectorised bootstrap equals the metric functions --------------------------------------------


@pytest.mark.parametrize("task", [BINARY_CLASSIFICATION, REGRESSION])
def test_each_resampled_metric_equals_its_metric_function_on_the_drawn_rows(task):
    rng = np.random.default_rng(1)
    n = 500
    if task == BINARY_CLASSIFICATION:
        y = rng.binomial(1, 0.3, n)
        prediction = np.round(rng.uniform(size=n), 2)  # ties, which ROC AUC and average precision must handle
    else:
        y = rng.normal(10, 5, n)
        prediction = y + rng.normal(0, 3, n)
    rows = rng.integers(0, n, (25, n))
    counts = np.stack([np.bincount(r, minlength=n) for r in rows]).astype("float64")

    for name in holdout_metric_names(task):
        expected = [METRIC_FUNCTIONS[name](y[r], prediction[r]) for r in rows]
        np.testing.assert_allclose(resampled_metric(name, y, prediction, counts), expected, rtol=1e-10, atol=1e-12)


def test_a_resample_without_both_classes_is_undefined_not_an_error():
    y = np.array([0, 0, 1])
    counts = np.array([[3.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    auc = resampled_metric("roc_auc", y, np.array([0.1, 0.2, 0.9]), counts)

    assert np.isnan(auc[0]) and auc[1] == 1.0


NEWER = "champion v3 is newer: its holdout ends at 2013-04-01 00:00, this retrain's cutoff is 2013-03-01 00:00 (UTC)"


@pytest.mark.parametrize("gate_promotes", [True, False])
def test_a_challenger_older_than_the_champion_is_promoted_only_when_forced(gate_promotes):
    gate = {"promote": gate_promotes, "reason": "the gate's reason"}
    evidence = PromotionEvidence("roc_auc", 0.74, 0.70, 0.5, gate=gate, newer_champion=NEWER)
    assert decide_challenger(evidence, CLASSIFIER) == (
        "rejected",
        f"{NEWER}: not promoted over a newer champion (force to); gate: the gate's reason",
    )
    verdict, reason = decide_challenger(evidence, CLASSIFIER, force=True)
    assert verdict == "forced" and reason.startswith(f"{NEWER}; promotion forced")
    # Not compared (its holdout overlaps the champion's training window): the reason says why.
    uncompared = PromotionEvidence("roc_auc", 0.74, None, 0.5, champion_problem="not compared", newer_champion=NEWER)
    assert decide_challenger(uncompared, CLASSIFIER)[1].endswith("(force to); not compared")
    assert decide_challenger(PromotionEvidence("roc_auc", 0.74, 0.70, 0.5, gate=gate), CLASSIFIER)[0] == (
        "promoted" if gate_promotes else "rejected"
    )


def test_bad_inputs_are_named():
    with pytest.raises(EvaluationError, match="same holdout rows"):
        decide_promotion(CLASSIFIER, BINARY_CLASSIFICATION, [0, 1, 1], [0.2, 0.8, 0.7], [0.3, 0.6])
    with pytest.raises(EvaluationError, match="single label value"):
        decide_promotion(CLASSIFIER, BINARY_CLASSIFICATION, [1, 1, 1], [0.2, 0.8, 0.7], [0.3, 0.6, 0.5])


# --- config ------------------------------------------------------------------------------------------


def test_default_guardrails_follow_the_task_and_leave_out_the_primary_metric():
    assert default_guardrails(BINARY_CLASSIFICATION, "roc_auc") == {"log_loss": 0.01, "brier": 0.005}
    assert default_guardrails(BINARY_CLASSIFICATION, "log_loss") == {"brier": 0.005}
    assert default_guardrails(REGRESSION, "rmse") == {"mae": 0.25}
    assert default_guardrails(REGRESSION, "r2") == {"rmse": 0.25}


def test_guardrails_none_means_the_defaults_and_empty_means_none():
    y, _, champion = classification()
    overconfident = expit(3 * logit(champion) + 2)
    unguarded = PromotionConfig(metric="roc_auc", guardrails={})

    assert [
        c.metric for c in decide_promotion(PromotionConfig(), BINARY_CLASSIFICATION, y, champion, champion).comparisons
    ] == [
        "roc_auc",
        "log_loss",
        "brier",
    ]
    assert decide_promotion(unguarded, BINARY_CLASSIFICATION, y, overconfident, champion).promote


@pytest.mark.parametrize(
    ("promotion", "message"),
    [
        ({"guardrails": {"rmse": 0.1}}, r"promotion\.guardrails names \['rmse'\], not binary_classification metrics"),
        ({"guardrails": {"roc_auc": 0.1}}, r"promotion\.guardrails names the promotion metric 'roc_auc'"),
        ({"guardrails": {"brier": -0.1}}, r"promotion\.guardrails tolerances must be >= 0"),
        ({"rule": "always"}, r"promotion\.rule"),
        ({"tolerance": -0.01}, r"promotion\.tolerance"),
        ({"confidence": 1.5}, r"promotion\.confidence"),
    ],
)
def test_a_bad_promotion_setting_names_the_file_and_key(promotion, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config("flight_delay", promotion={**load_config("flight_delay").promotion.model_dump(), **promotion})
    assert "flight_delay.yaml" in str(info.value)


def test_the_demo_models_configure_the_gate():
    classifier, regressor = load_config("flight_delay").promotion, load_config("origin_hourly_delay").promotion

    assert (classifier.rule, classifier.guardrails) == ("noninferiority", {"log_loss": 0.01, "brier": 0.005})
    assert (regressor.rule, regressor.guardrails) == ("noninferiority", {"mae": 0.25})


# --- the stage records the decision with its interval -----------------------------------------------


def test_the_gate_decides_in_the_retrain_stage_and_its_evidence_lands_in_the_registry(
    fresh_seeded_url, tmp_path, make_config
):
    day = dt.datetime(2013, 3, 4, tzinfo=UTC)

    def runtime(cfg, run_id: str) -> Runtime:
        return Runtime(cfg, RunContext("retrain__flight_delay", run_id, day - dt.timedelta(days=7), day))

    cfg = make_config(fresh_seeded_url, str(tmp_path), model={"params": {"max_iter": 10}})
    rt = runtime(cfg, "manual__1")
    schema.upgrade(open_warehouse(cfg))
    batch = retrain.extract(rt)
    first = retrain.promote(rt, retrain.train(rt, batch, {"suite_name": "not run"}))
    assert first["status"] == "champion"
    assert registry.get_version(rt.warehouse, "flight_delay", 1)["decision_evidence"] is None  # the baseline gate

    # The same data, config and seed: the same model, equal within noise, so promoted (fresher).
    trained = retrain.train(runtime(cfg, "manual__2"), batch, {"suite_name": "not run"})
    assert trained["gate"]["promote"] and trained["gate"]["comparisons"][0]["difference"] == 0.0
    second = retrain.promote(runtime(cfg, "manual__2"), trained)
    record = registry.get_version(rt.warehouse, "flight_delay", 2)
    assert (second["decision"], second["status"]) == ("promoted", "champion")
    assert record["decision_evidence"] == trained["gate"]
    assert (
        "roc_auc difference +0.0000 [+0.0000, +0.0000] (95% CI), tolerance 0.005: not worse"
        in record["decision_reason"]
    )

    # The old rule with a margin refuses the same model; its evidence is recorded all the same.
    strict = make_config(
        fresh_seeded_url,
        str(tmp_path),
        model={"params": {"max_iter": 10}},
        promotion={"metric": "roc_auc", "rule": "improvement", "min_improvement": 0.01},
    )
    third = retrain.promote(runtime(strict, "manual__3"), retrain.train(runtime(strict, "manual__3"), batch, {}))
    record = registry.get_version(rt.warehouse, "flight_delay", 3)
    assert (third["decision"], third["status"]) == ("rejected", "candidate")
    assert record["decision_evidence"]["rule"] == "improvement" and not record["decision_evidence"]["promote"]
    assert third["reason"].startswith("improvement rule: roc_auc")
