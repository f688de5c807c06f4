"""The model and metrics layer for both tasks, regression first: metrics against numpy formulas, the
mean baseline, the promotion direction, label dtypes, scoring columns, realized performance joined on a
composite key, and a regressor trained and evaluated end to end on synthetic data. Pure: no database."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipeline import metrics
from pipeline.config import DatasetConfig, ModelConfig
from pipeline.models.evaluate import (
    EvaluationError,
    baseline_metrics,
    holdout_metrics,
    permutation_importance_frame,
    promotion_decision,
)
from pipeline.models.predict import predict, score
from pipeline.models.train import TimeSplit, TrainingDataError, split_by_time, train_model
from pipeline.monitoring.performance import (
    performance_columns,
    performance_metrics,
    realized_performance,
    realized_window,
)

REG, CLF = "regression", "binary_classification"
UTC = dt.UTC
DS = DatasetConfig(
    name="delays",
    feature_sql="sql/features/flights.sql",
    key="id",
    timestamp="ts",
    label="delay_minutes",
    numeric_features=["temp", "distance", "noise"],
    categorical_features=["carrier"],
)
REGRESSOR = ModelConfig(
    name="delay_minutes", estimator="sklearn.ensemble.HistGradientBoostingRegressor", params={"max_iter": 60}
)
CLASSIFIER = ModelConfig(name="delayed", params={"max_iter": 20})
SPLIT = TimeSplit(
    dt.datetime(2013, 1, 1, tzinfo=UTC), dt.datetime(2013, 2, 15, tzinfo=UTC), dt.datetime(2013, 3, 15, tzinfo=UTC)
)


def delays(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """A feature table, one row per 45 minutes from 2013-01-01: a delay in minutes that depends on
    temp, distance and carrier (not on noise), nullable like a label read from the warehouse."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.normal(size=n) for c in ("temp", "distance", "noise")})
    frame["carrier"] = pd.Categorical(rng.choice(["A", "B", "C"], size=n))
    frame["id"] = np.arange(1, n + 1, dtype="int64")
    frame["ts"] = pd.date_range("2013-01-01", periods=n, freq="45min", tz="UTC")
    minutes = 20 * frame["temp"] - 10 * frame["distance"] + 15 * (frame["carrier"] == "A") + rng.normal(0, 5, n)
    frame["delay_minutes"] = pd.array(minutes.round().astype("int64"), dtype="Int64")
    frame.loc[frame.index[::40], "delay_minutes"] = pd.NA  # cancelled: no label
    return frame


# --- the registry --------------------------------------------------------------------------------


def test_per_task_lookups():
    assert metrics.holdout_metric_names(REG) == ("rmse", "mae", "r2")
    assert metrics.holdout_metric_names(CLF) == ("roc_auc", "average_precision", "log_loss", "brier")
    assert metrics.realized_metric_names(REG) == ("rmse", "mae", "r2")
    assert metrics.realized_metric_names(CLF) == ("roc_auc", "brier", "log_loss")
    assert (metrics.default_promotion_metric(REG), metrics.default_promotion_metric(CLF)) == ("rmse", "roc_auc")
    assert (metrics.headline_metric(REG), metrics.headline_metric(CLF)) == ("rmse", "roc_auc")
    assert metrics.is_metric_for(REG, "mae") and not metrics.is_metric_for(REG, "roc_auc")
    assert metrics.is_metric_for(CLF, "brier") and not metrics.is_metric_for(CLF, "r2")
    assert [metrics.get_metric(m).higher_is_better for m in ("rmse", "mae", "r2")] == [False, False, True]
    with pytest.raises(ValueError, match="unknown task 'ranking'"):
        metrics.holdout_metric_names("ranking")
    with pytest.raises(ValueError, match="unknown metric 'accuracy'"):
        metrics.get_metric("accuracy")


def test_the_registry_stays_light_for_dag_parsing():
    code = "import sys, pipeline.metrics; print(sorted({'numpy', 'sklearn', 'scipy', 'pandas'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- holdout metrics, baseline, promotion ----------------------------------------------------------


def test_regression_metrics_match_numpy_formulas():
    y = np.array([3.0, -0.5, 2.0, 7.0])
    p = np.array([2.5, 0.0, 2.0, 8.0])
    m = holdout_metrics(REG, y, p)
    assert list(m) == ["rmse", "mae", "r2", "rows"] and m["rows"] == 4
    assert m["rmse"] == pytest.approx(np.sqrt(1.5 / 4))  # squared errors 0.25, 0.25, 0, 1
    assert m["mae"] == pytest.approx(2 / 4)
    assert m["r2"] == pytest.approx(1 - 1.5 / np.sum((y - y.mean()) ** 2))
    with pytest.raises(EvaluationError, match="constant label"):
        holdout_metrics(REG, np.full(3, 5.0), [1.0, 2.0, 3.0])
    with pytest.raises(EvaluationError, match="0 labels"):
        holdout_metrics(REG, [], [])


def test_mean_baseline():
    y_train, y_holdout = np.array([10.0, 20.0, 30.0, 60.0]), np.array([0.0, 40.0, 50.0])
    base = baseline_metrics(REG, y_train, y_holdout)
    error = y_holdout - 30.0
    assert base["baseline_mean"] == 30.0 and "base_rate" not in base
    assert base["rmse"] == pytest.approx(np.sqrt(np.mean(error**2)))
    assert base["mae"] == pytest.approx(np.mean(np.abs(error)))
    assert base["r2"] == pytest.approx(1 - np.sum(error**2) / np.sum((y_holdout - y_holdout.mean()) ** 2))
    assert baseline_metrics(CLF, np.array([0, 1, 1, 1]), np.array([0, 1]))["base_rate"] == 0.75


@pytest.mark.parametrize(
    ("metric", "challenger", "champion", "margin", "decision"),
    [
        ("rmse", 11.0, 12.0, 0.5, "promoted"),  # one minute better
        ("rmse", 11.8, 12.0, 0.5, "rejected"),  # better, but by less than the margin
        ("rmse", 13.0, 12.0, 0.0, "rejected"),
        ("mae", 7.0, 8.0, 0.0, "promoted"),
        ("r2", 0.62, 0.60, 0.01, "promoted"),
        ("r2", 0.55, 0.60, 0.0, "rejected"),
    ],
)
def test_promotion_follows_the_metric_direction(metric, challenger, champion, margin, decision):
    got, reason = promotion_decision(metric, challenger, champion, margin)
    assert got == decision
    assert metric in reason and ("lower is better" if metric != "r2" else "higher is better") in reason


def test_promotion_refuses_an_unknown_metric():
    with pytest.raises(ValueError, match="unknown metric 'accuracy'"):
        promotion_decision("accuracy", 0.9, 0.8, 0.0)


# --- split, predict, score -------------------------------------------------------------------------


def test_split_by_time_label_dtypes():
    frame = delays()
    train, holdout = split_by_time(frame, SPLIT, DS, REG)
    assert train["delay_minutes"].dtype == holdout["delay_minutes"].dtype == "float64"
    assert len(train) + len(holdout) == frame["delay_minutes"].notna().sum()

    binary = frame.assign(delay_minutes=(frame["delay_minutes"] > 0).astype("Int64"))
    train, holdout = split_by_time(binary, SPLIT, DS, CLF)
    assert train["delay_minutes"].dtype == holdout["delay_minutes"].dtype == "int64"


@pytest.mark.parametrize(
    ("task", "label", "message"),
    [
        (CLF, pd.array([0, 1, 2] * 4, dtype="Int64"), "must be 0/1"),
        (REG, np.array([1.0, np.inf, 2.0] * 4), "must be finite"),
        (REG, np.array(["a", "b", "c"] * 4, dtype=object), "must be numeric"),
    ],
)
def test_split_by_time_refuses_labels_that_do_not_fit_the_task(task, label, message):
    frame = delays(12).assign(delay_minutes=label)
    with pytest.raises(TrainingDataError, match=message):
        split_by_time(frame, SPLIT, DS, task)


def test_score_columns_per_task():
    frame = delays(600)
    labelled = frame.dropna(subset=["delay_minutes"])
    regressor = train_model(labelled.astype({"delay_minutes": "float64"}), REGRESSOR, DS)
    scored = score(regressor, frame, DS, 0.5, REG)
    assert list(scored.columns) == ["id", "prediction"]
    assert scored["prediction"].dtype == "float64" and scored["id"].tolist() == frame["id"].tolist()
    np.testing.assert_array_equal(scored["prediction"], regressor.predict(frame[DS.features]))

    binary = labelled.assign(delay_minutes=(labelled["delay_minutes"] > 0).astype("int64"))
    classifier = train_model(binary, CLASSIFIER, DS)
    composite = SimpleNamespace(key=["ts", "id"], features=DS.features)  # what dataset.key is becoming
    scored = score(classifier, frame.iloc[100:], composite, 0.3, CLF)
    assert list(scored.columns) == ["ts", "id", "prediction", "score", "predicted_label"]
    assert scored["ts"].dtype == frame["ts"].dtype and scored.index.equals(pd.RangeIndex(len(frame) - 100))
    assert scored["prediction"].dtype == scored["score"].dtype == "float64"
    assert scored["predicted_label"].dtype == "int16"
    np.testing.assert_array_equal(scored["score"], classifier.predict_proba(frame.iloc[100:][DS.features])[:, 1])
    np.testing.assert_array_equal(scored["predicted_label"], (scored["score"] >= 0.3).astype("int16"))
    with pytest.raises(ValueError, match="needs a classifier"):
        predict(regressor, frame, DS, CLF)


# --- realized performance --------------------------------------------------------------------------


def test_realized_regression_performance_matches_hand_computations():
    frame = pd.DataFrame(
        {
            "day": ["d1", "d1", "d1", "d2", "d2"],
            "model_version": [1, 1, 1, 1, 1],
            "delay": pd.array([10, 0, 20, 5, None], dtype="Int64"),
            "prediction": [12.0, 3.0, 15.0, 5.0, 99.0],
        }
    )
    result = realized_performance(frame, "delay", REG).set_index("day")
    assert list(result.columns) == ["model_version", *performance_columns(REG)]
    assert performance_columns(REG) == ["rows", "rmse", "mae", "r2", "mean_prediction", "mean_label"]
    d1, d2 = result.loc["d1"], result.loc["d2"]
    assert d1["rmse"] == pytest.approx(np.sqrt((4 + 9 + 25) / 3)) and d1["mae"] == pytest.approx(10 / 3)
    assert d1["r2"] == pytest.approx(1 - 38 / 200)  # labels 10, 0, 20 around their mean 10
    assert (d1["mean_prediction"], d1["mean_label"]) == (pytest.approx(10.0), pytest.approx(10.0))
    assert d2["rows"] == 1 and d2["rmse"] == 0.0 and np.isnan(d2["r2"])  # the unlabelled row is dropped
    assert result["rows"].dtype == "int64" and result["rmse"].dtype == "float64"
    with pytest.raises(ValueError, match="finite number"):
        realized_performance(frame.assign(prediction=np.nan), "delay", REG)
    with pytest.raises(ValueError, match="delay must be a finite number"):
        realized_performance(frame.assign(delay=[1.0, np.inf, 1.0, 1.0, 1.0]), "delay", REG)


def composite(date_dtype: str, ts_unit: str, ts_zone: str, carrier_as_uuid: bool) -> pd.DataFrame:
    """Six entities keyed by (flight date, departure, carrier), as one side of the join holds them."""
    departure = pd.Series(pd.date_range("2013-03-01 22:30", periods=6, freq="3h", tz="UTC"))
    dates = departure.dt.date
    carriers = [uuid.UUID(int=i % 2 + 1) for i in range(6)]
    return pd.DataFrame(
        {
            "flight_date": dates.astype(object) if date_dtype == "object" else pd.to_datetime(dates).astype(date_dtype),
            "departure": departure.dt.tz_convert(ts_zone).astype(f"datetime64[{ts_unit}, {ts_zone}]"),
            "carrier": pd.Series(carriers, dtype=object) if carrier_as_uuid else pd.Series(map(str, carriers)),
        }
    )


@pytest.mark.parametrize(
    ("made_keys", "label_keys"),
    [
        (("object", "us", "UTC", False), ("object", "ns", "UTC", False)),
        (("object", "us", "UTC", True), ("datetime64[s]", "ns", "America/New_York", False)),
    ],
    ids=["datetime units", "dates, zones and uuids"],
)
def test_realized_window_joins_on_every_key_column(made_keys, label_keys):
    keys = ["flight_date", "departure", "carrier"]
    truth = np.array([12.0, 30.0, 0.0, 7.0, 18.0, 3.0])
    champion = np.array([10.0, 25.0, 4.0, 7.0, 20.0, 1.0])
    made = pd.concat(
        [
            composite(*made_keys).assign(model_version=1, is_champion=True, prediction=champion),
            composite(*made_keys).assign(model_version=2, is_champion=False, prediction=truth),  # a shadow
        ],
        ignore_index=True,
    )
    labels = composite(*label_keys).assign(delay=truth).iloc[::-1]  # the departure is the timestamp too

    performance, rmse = realized_window(made, labels, keys, "departure", "delay", REG)

    assert rmse == pytest.approx(np.sqrt(np.mean((champion - truth) ** 2)))
    rows = performance[performance["metric"] == "rows"]
    assert rows["value"].sum() == len(made)  # every prediction found its label
    assert sorted(rows["day"].unique()) == [dt.date(2013, 3, 1), dt.date(2013, 3, 2)]  # UTC dates
    shadow = performance[(performance["model_version"] == 2) & (performance["metric"] == "rmse")]
    assert (shadow["value"] == 0).all()


def test_realized_window_refuses_keys_that_cannot_be_compared():
    made = composite("object", "us", "UTC", False).assign(model_version=1, is_champion=True, prediction=1.0)
    labels = composite("object", "us", "UTC", False).assign(delay=1.0)
    labels["departure"] = labels["departure"].dt.tz_localize(None)
    with pytest.raises(ValueError, match="cannot join predictions to labels"):
        realized_window(made, labels, ["flight_date", "departure", "carrier"], "flight_date", "delay", REG)
    with pytest.raises(ValueError, match="repeats a key"):
        realized_window(made, pd.concat([labels, labels]), ["carrier"], "flight_date", "delay", REG)


def test_realized_window_headline_per_task():
    made = pd.DataFrame(
        {"id": [1, 2, 3, 4], "model_version": 1, "is_champion": True, "prediction": [0.2, 0.9, 0.6, 0.4]}
    )
    ts = pd.Timestamp("2013-03-01", tz="UTC")
    labels = pd.DataFrame({"id": [1, 2, 3, 4], "ts": ts, "y": pd.array([0, 1, 1, None], dtype="Int64")})
    _, auc = realized_window(made, labels, ["id"], "ts", "y", CLF)
    assert auc == pytest.approx(roc_auc_score([0, 1, 1], [0.2, 0.9, 0.6]))
    assert (
        realized_window(made, labels.assign(y=pd.array([1, 1, 1, None], dtype="Int64")), ["id"], "ts", "y", CLF)[1]
        is None
    )  # ROC AUC is undefined on one class
    assert realized_window(made.assign(is_champion=False), labels, ["id"], "ts", "y", REG)[1] is None
    performance, none = realized_window(made, labels.drop(columns="y"), ["id"], "ts", "y", REG)
    assert performance.empty and none is None
    assert performance_metrics(CLF, [0, 1], [0.2, 0.7])["positives"] == 1


# --- end to end ------------------------------------------------------------------------------------


def test_a_regressor_trains_and_beats_the_mean_baseline():
    train, holdout = split_by_time(delays(), SPLIT, DS, REG)
    model = train_model(train, REGRESSOR, DS)
    prediction = predict(model, holdout, DS, REG)
    assert prediction.dtype == "float64" and prediction.shape == (len(holdout),)

    y_train, y_holdout = train["delay_minutes"].to_numpy(), holdout["delay_minutes"].to_numpy()
    result = holdout_metrics(REG, y_holdout, prediction)
    baseline = baseline_metrics(REG, y_train, y_holdout)
    assert result["rmse"] < 0.5 * baseline["rmse"] and result["r2"] > 0.7 and baseline["r2"] <= 0
    assert result["rmse"] == pytest.approx(np.sqrt(np.mean((prediction - y_holdout) ** 2)))
    verdict, _ = promotion_decision(
        metrics.default_promotion_metric(REG), result["rmse"], baseline["rmse"], min_improvement=1.0
    )
    assert verdict == "promoted"

    importance = permutation_importance_frame(model, holdout, DS.features, DS.label, seed=0, task=REG).set_index(
        "feature"
    )
    # The rise in RMSE, in minutes: temp (20 min per std) matters most, noise not at all.
    assert importance["mean"].idxmax() == "temp" and importance.loc["temp", "mean"] > 10
    assert abs(importance.loc["noise", "mean"]) < 1

    made = holdout[["id"]].assign(model_version=1, is_champion=True, prediction=prediction)
    _, realized_rmse = realized_window(made, holdout, ["id"], "ts", DS.label, REG)
    assert realized_rmse == pytest.approx(result["rmse"])
