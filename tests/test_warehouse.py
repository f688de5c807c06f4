"""Tests of the warehouse I/O layer on a real, empty PostgreSQL database: the dtypes of
``read_frame``'s COPY path (numeric mapped to float64 on purpose), parameter binding, errors, and
``BulkSession.write_frame``'s load inside a transaction that commits or rolls back as a whole."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.data.warehouse import Warehouse, WarehouseError, statement

# Fixture DDL/DML only; the code under test reads its own statements from sql/.
CREATE_SAMPLE = """
CREATE TABLE sample (
    id      bigint PRIMARY KEY,
    n       integer,
    small   smallint NOT NULL,
    x       double precision,
    amount  numeric(8, 2),
    flag    boolean,
    day     date,
    ts      timestamptz,
    s       text,
    code    varchar(4),
    c       text
)
"""
INSERT_SAMPLE = """
INSERT INTO sample VALUES
    (1, 10,   1, 1.5,  12.25, true,  '2013-01-01', '2013-01-01 05:15-05', 'a',    'EWR', 'x'),
    (2, NULL, 2, NULL, NULL,  NULL,  NULL,         NULL,                   '',     '',    'y'),
    (3, 30,   3, 2.5,  -1.50, false, '2013-12-31', '2013-06-30 23:59:59.5+00', NULL, NULL, 'x')
"""
CREATE_TARGET = """
CREATE TABLE target (
    id   bigint NOT NULL,
    n    integer,
    x    double precision,
    ts   timestamptz,
    s    text
)
"""
SELECT_SAMPLE = "SELECT id, n, small, x, amount, flag, day, ts, s, code, c FROM sample ORDER BY id"


@pytest.fixture
def warehouse(empty_url: str) -> Warehouse:
    wh = Warehouse(empty_url)
    with wh.transaction() as cur:
        cur.execute(CREATE_SAMPLE)
        cur.execute(INSERT_SAMPLE)
        cur.execute(CREATE_TARGET)
    yield wh
    wh.engine.dispose()


def count(wh: Warehouse, table: str) -> int:
    with wh.transaction() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        return cur.fetchone()[0]


def test_read_frame_dtypes(warehouse: Warehouse) -> None:
    frame = warehouse.read_frame(SELECT_SAMPLE, {})

    assert list(frame.columns) == ["id", "n", "small", "x", "amount", "flag", "day", "ts", "s", "code", "c"]
    assert frame["id"].dtype == "int64"
    assert frame["id"].tolist() == [1, 2, 3]
    assert frame["small"].dtype == "int64"  # smallint without NULLs
    assert frame["n"].dtype == pd.Int64Dtype()
    assert frame["n"].iloc[0] == 10 and frame["n"].iloc[2] == 30
    assert frame["n"].iloc[1] is pd.NA
    assert frame["x"].dtype == "float64"
    assert frame["x"].iloc[0] == 1.5 and pd.isna(frame["x"].iloc[1])
    assert frame["amount"].dtype == "float64"  # numeric, on purpose (the module docstring)
    assert frame["amount"].tolist()[::2] == [12.25, -1.5]
    assert pd.isna(frame["amount"].iloc[1])


def test_read_frame_timestamptz_is_the_right_instant_in_utc(warehouse: Warehouse) -> None:
    frame = warehouse.read_frame(SELECT_SAMPLE, {})

    assert frame["ts"].dtype == "datetime64[us, UTC]"
    # Inserted as 05:15 at UTC-5.
    assert frame["ts"].iloc[0] == pd.Timestamp("2013-01-01 10:15", tz="UTC")
    assert pd.isna(frame["ts"].iloc[1])
    # Microseconds survive the CSV round trip.
    assert frame["ts"].iloc[2] == pd.Timestamp("2013-06-30 23:59:59.5", tz="UTC")


def test_read_frame_timestamptz_ignores_the_server_time_zone(warehouse: Warehouse) -> None:
    with warehouse.transaction() as cur:
        cur.execute("SELECT current_database()")
        database = cur.fetchone()[0]
        cur.execute(f"ALTER DATABASE \"{database}\" SET timezone = 'Asia/Tokyo'")
    other = Warehouse(warehouse.url)
    try:
        frame = other.read_frame("SELECT ts FROM sample WHERE id = 1", {})
    finally:
        other.engine.dispose()

    assert frame["ts"].iloc[0] == pd.Timestamp("2013-01-01 10:15", tz="UTC")


def test_read_frame_text_null_and_empty_string_stay_distinct(warehouse: Warehouse) -> None:
    frame = warehouse.read_frame(SELECT_SAMPLE, {})

    assert frame["s"].iloc[0] == "a"
    assert frame["s"].iloc[1] == ""
    assert pd.isna(frame["s"].iloc[2])
    assert frame["code"].iloc[1] == ""  # varchar too
    assert pd.isna(frame["code"].iloc[2])


def test_read_frame_bool_and_date(warehouse: Warehouse) -> None:
    frame = warehouse.read_frame(SELECT_SAMPLE, {})

    assert frame["flag"].tolist()[::2] == [True, False]  # COPY writes t/f
    assert pd.isna(frame["flag"].iloc[1])
    assert str(frame["day"].iloc[0]) == "2013-01-01"
    assert pd.isna(frame["day"].iloc[1])


def test_read_frame_text_that_looks_like_null_is_data(warehouse: Warehouse) -> None:
    frame = warehouse.read_frame(
        "SELECT v, x FROM (VALUES (1, 'NA', 'NaN'::float8), (2, 'null', 'Infinity'), (3, 'N/A', 1.0), "
        "(4, 'NaN', NULL), (5, NULL, -1.0)) AS t(i, v, x) ORDER BY i",
        {},
    )

    assert frame["v"].tolist()[:4] == ["NA", "null", "N/A", "NaN"]
    assert pd.isna(frame["v"].iloc[4])
    assert pd.isna(frame["x"].iloc[0]) and frame["x"].iloc[1] == float("inf") and frame["x"].iloc[2] == 1.0


def test_read_frame_categorical(warehouse: Warehouse) -> None:
    frame = warehouse.read_frame(SELECT_SAMPLE, {}, categorical=["c", "s"])

    assert isinstance(frame["c"].dtype, pd.CategoricalDtype)
    assert frame["c"].tolist() == ["x", "y", "x"]
    assert set(frame["c"].cat.categories) == {"x", "y"}
    assert isinstance(frame["s"].dtype, pd.CategoricalDtype)
    assert frame["s"].iloc[1] == "" and pd.isna(frame["s"].iloc[2])
    assert frame["code"].dtype != "category"  # only the listed columns


def test_read_frame_unknown_categorical_column(warehouse: Warehouse) -> None:
    with pytest.raises(WarehouseError, match="carrier"):
        warehouse.read_frame(SELECT_SAMPLE, {}, categorical=["carrier"])


def test_read_frame_binds_parameters(warehouse: Warehouse) -> None:
    with warehouse.transaction() as cur:
        cur.execute("INSERT INTO sample (id, small, s) VALUES (4, 4, %s)", ("O'Hare",))

    frame = warehouse.read_frame(
        "SELECT id, s, %(label)s::text AS label FROM sample WHERE s = %(name)s AND id >= %(min_id)s",
        {"name": "O'Hare", "label": "it's; -- not sql", "min_id": 2},
    )

    assert frame["id"].tolist() == [4]
    assert frame["s"].tolist() == ["O'Hare"]
    assert frame["label"].tolist() == ["it's; -- not sql"]


def test_read_frame_parameters_cannot_inject(warehouse: Warehouse) -> None:
    frame = warehouse.read_frame("SELECT id FROM sample WHERE s = %(name)s", {"name": "x' OR '1'='1"})
    assert frame.empty

    hostile = "a'; DROP TABLE sample; --"
    frame = warehouse.read_frame("SELECT id FROM sample WHERE s = %(name)s", {"name": hostile})
    assert frame.empty
    assert count(warehouse, "sample") == 3


def test_read_frame_binds_timestamps(warehouse: Warehouse) -> None:
    start = pd.Timestamp("2013-01-01 10:00", tz="UTC").to_pydatetime()
    end = pd.Timestamp("2013-01-01 10:30", tz="UTC").to_pydatetime()

    frame = warehouse.read_frame(
        "SELECT id FROM sample WHERE ts >= %(start)s AND ts < %(end)s", {"start": start, "end": end}
    )

    assert frame["id"].tolist() == [1]


def test_read_frame_empty_result_keeps_dtypes(warehouse: Warehouse) -> None:
    frame = warehouse.read_frame("SELECT id, x, ts FROM sample WHERE false", {})

    assert frame.empty
    assert frame["id"].dtype == "int64"
    assert frame["x"].dtype == "float64"
    assert frame["ts"].dtype == "datetime64[us, UTC]"


def test_read_frame_missing_table_names_it(warehouse: Warehouse) -> None:
    with pytest.raises(WarehouseError, match="no_such_table"):
        warehouse.read_frame("SELECT * FROM no_such_table", {})


def test_read_frame_unmapped_type_asks_for_a_cast(warehouse: Warehouse) -> None:
    with pytest.raises(WarehouseError, match="cast") as info:
        warehouse.read_frame("""SELECT id, '{"a": 1}'::jsonb AS payload FROM sample""", {})

    assert "payload" in str(info.value)
    # Casting, as the message says, works.
    frame = warehouse.read_frame("""SELECT id, '{"a": 1}'::jsonb::text AS payload FROM sample""", {})
    assert frame["payload"].iloc[0] == '{"a": 1}'


def test_write_frame_round_trip(warehouse: Warehouse) -> None:
    frame = pd.DataFrame(
        {
            "id": pd.Series([1, 2, 3], dtype="int64"),
            "n": pd.Series([7, None, -2], dtype="Int64"),
            "x": [0.1, float("nan"), 1e300],
            "ts": pd.Series(
                [
                    pd.Timestamp("2013-01-01 10:15", tz="UTC"),
                    pd.NaT,
                    pd.Timestamp("2013-07-01 03:04:05.123456", tz="UTC"),
                ]
            ).astype("datetime64[us, UTC]"),
            "s": pd.Series(['O\'Hare, "IL"\nline two', None, "NA"], dtype=object),
        }
    )

    with warehouse.bulk() as session:
        written = session.write_frame(frame, "public.target")
    back = warehouse.read_frame("SELECT id, n, x, ts, s FROM target ORDER BY id", {})

    assert written == 3
    assert back["id"].tolist() == [1, 2, 3]
    assert back["n"].dtype == pd.Int64Dtype()
    assert back["n"].iloc[0] == 7 and back["n"].iloc[1] is pd.NA and back["n"].iloc[2] == -2
    assert back["x"].iloc[0] == 0.1 and pd.isna(back["x"].iloc[1]) and back["x"].iloc[2] == 1e300
    pd.testing.assert_series_equal(back["ts"], frame["ts"], check_names=False)
    assert back["s"].iloc[0] == 'O\'Hare, "IL"\nline two'
    assert pd.isna(back["s"].iloc[1])
    assert back["s"].iloc[2] == "NA"
    with warehouse.transaction() as cur:
        cur.execute("SELECT count(*) FILTER (WHERE n IS NULL), count(*) FILTER (WHERE s IS NULL) FROM target")
        assert cur.fetchone() == (1, 1)


def test_write_frame_empty_string_is_not_null(warehouse: Warehouse) -> None:
    frame = pd.DataFrame({"id": [1, 2], "s": pd.Series(["", None], dtype=object)})

    with warehouse.bulk() as session:
        session.write_frame(frame, "public.target")
    with warehouse.transaction() as cur:
        cur.execute("SELECT id, s IS NULL, s FROM target ORDER BY id")
        assert cur.fetchall() == [(1, False, ""), (2, True, None)]


def test_a_bulk_session_commits_writes_and_statements_together(warehouse: Warehouse) -> None:
    frame = pd.DataFrame({"id": [10, 11], "s": ["a", "b"]})

    with warehouse.bulk() as session:
        session.write_frame(frame, "public.target")
        assert count(warehouse, "target") == 0  # another connection sees nothing before the commit
        session.execute("nycflights13/truncate", table="public.sample")  # a statement in the same transaction

    assert warehouse.read_frame("SELECT id FROM target ORDER BY id", {})["id"].tolist() == [10, 11]
    assert count(warehouse, "sample") == 0


def test_failed_transaction_writes_nothing(warehouse: Warehouse) -> None:
    frame = pd.DataFrame({"id": [1, 2], "s": ["a", "b"]})

    with pytest.raises(WarehouseError, match="null value"):
        with warehouse.bulk() as session:
            session.write_frame(frame, "public.target")
            session.write_frame(pd.DataFrame({"id": [None], "s": ["c"]}), "public.target")  # violates NOT NULL

    assert count(warehouse, "target") == 0


def test_python_error_in_transaction_rolls_back_and_propagates(warehouse: Warehouse) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with warehouse.bulk() as session:
            session.write_frame(pd.DataFrame({"id": [1]}), "public.target")
            raise Boom

    assert count(warehouse, "target") == 0


def test_write_frame_bad_data_raises_warehouse_error(warehouse: Warehouse) -> None:
    with pytest.raises(WarehouseError, match="not a number"):
        with warehouse.bulk() as session:
            session.write_frame(pd.DataFrame({"id": ["not a number"]}), "public.target")
    with pytest.raises(WarehouseError, match="target has no column"):
        with warehouse.bulk() as session:
            session.write_frame(pd.DataFrame({"id": [1], "nope": [2]}), "public.target")

    assert count(warehouse, "target") == 0


def test_statement_quotes_identifiers(warehouse: Warehouse) -> None:
    with warehouse.transaction() as cur:
        text = statement("nycflights13/truncate", table="ml.weird table").as_string(cur)

    assert text == 'TRUNCATE "ml"."weird table"'


def test_unknown_statement() -> None:
    with pytest.raises(WarehouseError, match="no_such_statement"):
        statement("io/no_such_statement")


def test_unreachable_warehouse(pg_port: int) -> None:
    wh = Warehouse(f"postgresql://postgres@127.0.0.1:{pg_port}/database_that_does_not_exist")
    try:
        with pytest.raises(WarehouseError, match="cannot connect"):
            wh.read_frame("SELECT 1 AS one", {})
    finally:
        wh.engine.dispose()


def test_numeric_maps_to_float64_and_text_keeps_exact_decimals(warehouse: Warehouse) -> None:
    frame = warehouse.read_frame(
        "SELECT 0.1::numeric AS a, 12345678901234567890.5::numeric AS big, 'NaN'::numeric AS nan, "
        "12345678901234567890.5::numeric::text AS exact",
        {},
    )

    assert frame["a"].dtype == frame["big"].dtype == "float64"
    assert frame["a"].iloc[0] == 0.1 and frame["big"].iloc[0] == 1.2345678901234567e19 and pd.isna(frame["nan"][0])
    assert frame["exact"].iloc[0] == "12345678901234567890.5"
