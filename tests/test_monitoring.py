"""Monitoring statistics: drift metrics on synthetic data with known shifts, PSI and realized
performance against hand computations, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipeline.config import DatasetConfig, MonitoringConfig
from pipeline.metrics import DEFAULT_DRIFT_THRESHOLDS
from pipeline.monitoring.drift import (
    COLUMNS,
    EPSILON,
    feature_drift,
    jensen_shannon,
    prediction_drift,
    psi,
    psi_categorical,
    wasserstein,
)
from pipeline.monitoring.performance import performance_columns, realized_performance, to_long
from pipeline.monitoring.window import WindowRows, evaluate_window

N = 5000
NUMERIC = ["x", "engines"]
CATEGORICAL = ["carrier"]
TASK = "binary_classification"
PERFORMANCE_COLUMNS = performance_columns(TASK)


def sample(seed: int, mean: float = 0.0, carrier_p: tuple[float, ...] = (0.6, 0.3, 0.1), n: int = N) -> pd.DataFrame:
    """A feature frame: a normal feature, a nullable integer with few distinct values, a categorical."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(mean, 1.0, n),
            "engines": pd.array(rng.choice([1, 2, 3, 4], p=[0.05, 0.9, 0.03, 0.02], size=n), dtype="Int64"),
            "carrier": pd.Categorical(rng.choice(["AA", "B6", "UA"], p=carrier_p, size=n)),
        }
    )


# --- drift: known shifts ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_distribution_is_not_flagged_by_any_metric(seed):
    result = feature_drift(sample(0), sample(seed), NUMERIC, CATEGORICAL)
    assert not result["drifted"].any(), result
    assert (result["value"] >= 0).all()


def test_shifted_numeric_feature_is_flagged_by_every_metric():
    result = feature_drift(sample(0), sample(1, mean=1.0), NUMERIC, CATEGORICAL).set_index(["feature", "metric"])
    x = result.loc["x"]
    assert x["drifted"].all()
    assert x.loc["psi", "value"] > 0.25
    assert x.loc["wasserstein", "value"] == pytest.approx(1.0, abs=0.1)  # the mean moved by one std
    assert not result.loc["engines", "drifted"].any() and not result.loc["carrier", "drifted"].any()


def test_shifted_categorical_frequencies_are_flagged():
    result = feature_drift(sample(0), sample(1, carrier_p=(0.1, 0.3, 0.6)), NUMERIC, CATEGORICAL)
    carrier = result[result["feature"] == "carrier"].set_index("metric")
    assert list(carrier.index) == ["psi", "jensen_shannon"] and set(carrier["kind"]) == {"categorical"}
    assert carrier["drifted"].all()
    assert not result[result["feature"] != "carrier"]["drifted"].any()


def test_null_spike_is_drift_for_psi():
    reference, current = sample(0), sample(1)
    current.loc[current.index[: N * 3 // 10], ["x", "carrier"]] = np.nan  # 30% of the values go missing
    result = feature_drift(reference, current, NUMERIC, CATEGORICAL).set_index(["feature", "metric"])
    assert result.loc[("x", "psi"), "drifted"] and result.loc[("carrier", "psi"), "drifted"]
    # Wasserstein compares only the values present, which are still N(0, 1).
    assert not result.loc[("x", "wasserstein"), "drifted"]


def test_prediction_drift_flags_shifted_scores_only():
    rng = np.random.default_rng(0)
    holdout = rng.beta(2, 5, N)
    same = prediction_drift(holdout, rng.beta(2, 5, N))
    shifted = prediction_drift(holdout, rng.beta(5, 2, N))
    assert list(same.columns) == COLUMNS
    assert list(same["metric"]) == ["psi", "wasserstein", "jensen_shannon"] and set(same["feature"]) == {"score"}
    assert not same["drifted"].any() and shifted["drifted"].all()
    assert (same["reference_rows"] == N).all() and (same["current_rows"] == N).all()


# --- drift: formulas and properties --------------------------------------------------------------


def test_psi_matches_a_hand_computation():
    # Reference [1, 2, 3, 4] with bins=2: one edge at the median 2.5, so bins (-inf, 2.5], (2.5, inf), missing.
    # Reference shares 2/4, 2/4, 0 (-> EPSILON). Current [0, 1, 2, 100, NaN]: 3/5, 1/5 (100 is beyond the
    # reference's range but still counted), 1/5. min_bin_rows=0: these bins as they are, not pooled.
    expected = (
        (3 / 5 - 1 / 2) * math.log((3 / 5) / (1 / 2))
        + (1 / 5 - 1 / 2) * math.log((1 / 5) / (1 / 2))
        + (1 / 5 - EPSILON) * math.log((1 / 5) / EPSILON)
    )
    assert psi([1, 2, 3, 4], [0, 1, 2, 100, None], bins=2, min_bin_rows=0) == pytest.approx(expected, rel=1e-12)


def test_psi_categorical_matches_a_hand_computation():
    # Categories a, b, c (unseen in the reference) and missing: reference 1/2, 1/2, 0, 0; current 1/4, 0, 2/4, 1/4.
    expected = (
        (1 / 4 - 1 / 2) * math.log((1 / 4) / (1 / 2))
        + (EPSILON - 1 / 2) * math.log(EPSILON / (1 / 2))
        + (2 / 4 - EPSILON) * math.log((2 / 4) / EPSILON)
        + (1 / 4 - EPSILON) * math.log((1 / 4) / EPSILON)
    )
    unpooled = psi_categorical(["a", "a", "b", "b"], ["a", "c", "c", None], min_bin_rows=0)
    assert unpooled == pytest.approx(expected, rel=1e-12)


def test_psi_is_zero_for_identical_samples_and_handles_few_distinct_values():
    values = np.array([0.0] * 90 + [0.1, 0.5, 2.0] * 3 + [np.nan])  # mostly one value: most edges coincide
    assert psi(values, values) == 0.0
    assert psi_categorical(["a", "b", None], ["a", "b", None]) == 0.0
    assert psi(values, np.zeros(10), min_bin_rows=0) > 0
    assert psi(values, np.zeros(10)) == 0.0  # 10 rows cannot fill two bins of 10: one pooled bin


def test_wasserstein_is_in_reference_standard_deviations():
    rng = np.random.default_rng(0)
    reference, current = rng.normal(10, 3, N), rng.normal(10, 3, N) + 1.5
    value = wasserstein(reference, current)
    assert value == pytest.approx(1.5 / np.std(reference, ddof=1), rel=0.1)
    assert wasserstein(reference * 1000, current * 1000) == pytest.approx(value, rel=1e-9)
    assert wasserstein(reference + 1e6, current + 1e6) == pytest.approx(value, rel=1e-6)


def test_wasserstein_edge_cases():
    assert wasserstein([2, 2, 2], [2, 2, None]) == 0.0
    assert wasserstein([2, 2, 2], [2, 3]) == math.inf
    assert math.isnan(wasserstein([1.0, 2.0], [None, None]))


def test_jensen_shannon_is_between_0_and_1():
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, 1000)
    assert jensen_shannon(reference, reference) == 0.0
    assert jensen_shannon(["a", "b", None], ["b", None, "a"]) == 0.0
    assert jensen_shannon(["a"] * 10, ["b"] * 10) == pytest.approx(1.0)  # disjoint supports
    values = [jensen_shannon(reference, rng.normal(shift, 1, 1000)) for shift in (0.1, 1, 3, 10, 100)]
    assert all(0 <= v <= 1 for v in values) and values == sorted(values)
    assert jensen_shannon(["x"] * 5, ["x"] * 4 + ["y"], kind="categorical") > 0


def test_feature_drift_schema_and_thresholds():
    result = feature_drift(sample(0, n=200), sample(1, n=100), NUMERIC, CATEGORICAL, thresholds={"psi": 0.0})
    assert list(result.columns) == COLUMNS
    assert list(result["feature"]) == ["x"] * 3 + ["engines"] * 3 + ["carrier"] * 2
    assert list(result["kind"]) == ["numeric"] * 6 + ["categorical"] * 2
    assert result["value"].dtype == "float64" and result["threshold"].dtype == "float64"
    assert result["drifted"].dtype == bool
    assert (result["reference_rows"] == 200).all() and (result["current_rows"] == 100).all()
    not_psi = result[result["metric"] != "psi"]
    assert not_psi["threshold"].isna().all() and not not_psi["drifted"].any()  # no threshold: never drifted
    # The default thresholds are floors: on 100 rows PSI's and Jensen-Shannon's critical values are above them.
    defaults = feature_drift(sample(0, n=200), sample(1, n=100), NUMERIC, CATEGORICAL)
    floors = defaults["metric"].map(DEFAULT_DRIFT_THRESHOLDS)
    assert (defaults["threshold"] >= floors).all() and (defaults["threshold"] > floors).any()
    large = feature_drift(sample(0), sample(1), NUMERIC, CATEGORICAL)
    assert set(zip(large["metric"], large["threshold"], strict=True)) == set(DEFAULT_DRIFT_THRESHOLDS.items())


# --- realized performance ------------------------------------------------------------------------


def performance_frame() -> pd.DataFrame:
    rows = [  # day, model_version, label, score
        ("2013-03-01", 1, 1, 0.90),
        ("2013-03-01", 1, 0, 0.40),
        ("2013-03-01", 1, 1, 0.35),
        ("2013-03-01", 1, 0, 0.10),
        ("2013-03-01", 1, None, 0.99),  # label not arrived yet: dropped
        ("2013-03-02", 1, 1, 0.70),
        ("2013-03-02", 1, 1, 0.50),
        ("2013-03-02", 1, 0, 0.50),
        ("2013-03-02", 2, 0, 0.20),  # a single class
        ("2013-03-02", 2, 0, 0.30),
    ]
    frame = pd.DataFrame(rows, columns=["day", "model_version", "delayed", "prediction"])
    frame["delayed"] = frame["delayed"].astype("Int64")
    return frame


def test_realized_performance_matches_hand_computations():
    result = realized_performance(performance_frame(), "delayed", TASK).set_index(["day", "model_version"])
    assert list(result.columns) == PERFORMANCE_COLUMNS
    day1, day2, single = result.loc[("2013-03-01", 1)], result.loc[("2013-03-02", 1)], result.loc[("2013-03-02", 2)]

    # Day 1: positives 0.90, 0.35; negatives 0.40, 0.10. Pairs (pos > neg): 0.90>0.40 yes, 0.90>0.10 yes,
    # 0.35>0.40 no, 0.35>0.10 yes -> 3 of 4.
    assert day1["roc_auc"] == pytest.approx(3 / 4)
    assert day1["brier"] == pytest.approx((0.1**2 + 0.4**2 + 0.65**2 + 0.1**2) / 4)
    assert day1["log_loss"] == pytest.approx(-(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.9)) / 4)
    assert (day1["rows"], day1["positives"]) == (4, 2)
    assert day1["mean_score"] == pytest.approx((0.9 + 0.4 + 0.35 + 0.1) / 4) and day1["positive_rate"] == 0.5

    # Day 2, version 1: positives 0.70, 0.50; negative 0.50. 0.70>0.50 counts 1, the tie 0.50=0.50 counts 1/2.
    assert day2["roc_auc"] == pytest.approx(1.5 / 2)
    assert day2["brier"] == pytest.approx((0.3**2 + 0.5**2 + 0.5**2) / 3)
    assert day2["log_loss"] == pytest.approx(-(math.log(0.7) + math.log(0.5) + math.log(0.5)) / 3)

    # Day 2, version 2: one class, so ROC AUC is undefined; the probability scores still are.
    assert math.isnan(single["roc_auc"])
    assert single["brier"] == pytest.approx((0.2**2 + 0.3**2) / 2)
    assert single["log_loss"] == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2)
    assert (single["rows"], single["positives"]) == (2, 0)


def test_realized_performance_grouping_and_no_labels_yet():
    frame = performance_frame()
    overall = realized_performance(frame, "delayed", TASK, by=[])
    assert len(overall) == 1 and overall.loc[0, "rows"] == 9
    assert list(realized_performance(frame, "delayed", TASK, by=["model_version"])["rows"]) == [7, 2]
    frame["delayed"] = pd.array([None] * len(frame), dtype="Int64")
    empty = realized_performance(frame, "delayed", TASK)
    assert empty.empty and list(empty.columns) == ["day", "model_version", *PERFORMANCE_COLUMNS]


def test_to_long_keeps_one_row_per_group_and_metric():
    wide = realized_performance(performance_frame(), "delayed", TASK)
    long = to_long(wide, ["day", "model_version"])
    assert list(long.columns) == ["day", "model_version", "metric", "value"]
    assert len(long) == 3 * len(PERFORMANCE_COLUMNS)
    assert list(long["metric"][: len(PERFORMANCE_COLUMNS)]) == PERFORMANCE_COLUMNS
    assert long["value"].dtype == "float64"
    auc = long[(long["day"] == "2013-03-01") & (long["metric"] == "roc_auc")]["value"]
    assert auc.tolist() == [pytest.approx(3 / 4)]


# --- one monitoring window ----------------------------------------------------------------------


class ScoreByX:
    """A model stub: P(class 1) is the logistic of feature ``x``."""

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        p = 1 / (1 + np.exp(-features["x"].to_numpy(dtype=float)))
        return np.column_stack([1 - p, p])


def test_evaluate_window_pools_every_champion_version_and_leaves_shadows_out():
    ds = DatasetConfig(
        name="t",
        feature_sql="sql/features/flights.sql",
        key="id",
        timestamp="ts",
        label="delayed",
        numeric_features=NUMERIC,
        categorical_features=CATEGORICAL,
    )
    labels = pd.array([1, 0, 1, 0, 1, 0, None, 1], dtype="Int64")
    current = sample(1, n=8).assign(id=range(8), ts=pd.Timestamp("2013-03-02", tz="UTC"), delayed=labels)
    champion = [0.9, 0.2, 0.4, 0.6, 0.7, 0.1, 0.5, 0.3]  # v1 made ids 0-3, v2 (promoted since) ids 4-7
    made = pd.DataFrame(
        {
            "id": [*range(8), *range(8)],
            "model_version": [1] * 4 + [2] * 4 + [3] * 8,
            "is_champion": [True] * 8 + [False] * 8,  # v3 scored in shadow
            "prediction": champion + [1 - s for s in champion],
        }
    )
    reference = sample(0, n=200)
    holdout_scores = ScoreByX().predict_proba(sample(2, n=100))[:, 1]

    result = evaluate_window(
        ScoreByX(),
        reference,
        holdout_scores,
        WindowRows(served=current, queried=current.iloc[:0], labels=current),
        made,
        2,
        ds,
        MonitoringConfig(thresholds={"psi": 0.25}),
        "binary_classification",
    )

    known = ~labels.isna()
    expected = roc_auc_score(np.asarray(labels[known], dtype=int), np.asarray(champion)[known])
    assert (result.realized_metric, result.realized) == ("roc_auc", pytest.approx(expected))
    assert sorted(result.performance["model_version"].unique()) == [1, 2, 3]
    assert result.feature_drift.equals(feature_drift(reference, current, NUMERIC, CATEGORICAL, {"psi": 0.25}))
    assert set(result.prediction_drift["kind"]) == {"prediction"} and set(result.prediction_drift["feature"]) == {
        "score"
    }
    assert result.score_psi == result.prediction_drift.loc[result.prediction_drift["metric"] == "psi", "value"].iloc[0]
    psi_drifted = result.feature_drift[(result.feature_drift["metric"] == "psi") & result.feature_drift["drifted"]]
    assert result.drifted_features() == sorted(psi_drifted["feature"])
    assert result.drifted_features(["x"]) == [f for f in result.drifted_features() if f == "x"]


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: feature_drift(sample(0), sample(1).iloc[:0], NUMERIC, CATEGORICAL), "current frame has no rows"),
        (lambda: feature_drift(sample(0).iloc[:0], sample(1), NUMERIC, CATEGORICAL), "reference frame has no rows"),
        (lambda: feature_drift(sample(0), sample(1), ["x", "nope"], []), r"lacks feature columns \['nope'\]"),
        (lambda: feature_drift(sample(0), sample(1), ["x"], ["x"]), "listed twice"),
        (lambda: feature_drift(sample(0), sample(1), [], []), "no features"),
        (lambda: feature_drift(sample(0), sample(1), ["carrier"], []), "feature 'carrier': reference must be numeric"),
        (lambda: feature_drift(sample(0), sample(1), ["x"], [], thresholds={"js": 0.1}), "unknown drift metrics"),
        (lambda: psi([], [1.0]), "reference is empty"),
        (lambda: psi([1.0], [1.0], bins=0), "bins must be at least 1"),
        (lambda: psi_categorical(["a"], []), "current is empty"),
        (lambda: jensen_shannon([1.0], [1.0], kind="ordinal"), "kind must be"),
        (lambda: prediction_drift([0.2, 0.5], [0.3, 1.7]), r"current_scores must be probabilities in \[0, 1\]"),
        (lambda: realized_performance(performance_frame().iloc[:0], "delayed", TASK), "frame has no rows"),
        (lambda: realized_performance(performance_frame(), "late", TASK), r"lacks columns \['late'\]"),
        (lambda: realized_performance(performance_frame().assign(delayed=2), "delayed", TASK), "must be 0/1"),
        (lambda: realized_performance(performance_frame().assign(prediction=1.5), "delayed", TASK), "probability in"),
    ],
)
def test_bad_input_is_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
