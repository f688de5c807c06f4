"""Tests of the streaming COPY paths on a real PostgreSQL database: ``iter_batches`` against
``read_frame`` (rows, dtypes, nulls, batch sizes, empty results, early exit, failures part-way),
and ``write_frame`` round trips of a large frame, including a formatting failure that must abort the
COPY instead of loading a truncated batch."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipeline.config import load_config
from pipeline.data.warehouse import Warehouse, WarehouseError, iter_batches, read_frame, write_frame

# Fixture DDL/queries only; the code under test reads its own statements from sql/.
GENERATED = """
SELECT g                                                                AS id,
       CASE WHEN mod(g, 7) = 0 THEN NULL ELSE g END                         AS n,
       CASE WHEN mod(g, 5) = 0 THEN NULL ELSE g * 0.5 END::double precision AS x,
       CASE WHEN mod(g, 3) = 0 THEN NULL WHEN mod(g, 3) = 1 THEN '' ELSE 'v' || (mod(g, 11)) END AS s,
       CASE WHEN mod(g, 9) = 0 THEN NULL ELSE ('c' || (mod(g, 4))) END          AS c,
       CASE WHEN mod(g, 13) = 0 THEN NULL
            ELSE timestamptz '2013-01-01 00:00:00+00' + g * interval '1 minute 0.000001 second' END AS ts
FROM generate_series(1, %(rows)s) AS g
ORDER BY g
"""
CREATE_TARGET = """
CREATE TABLE target (
    id       bigint NOT NULL,
    n        integer,
    x        double precision,
    ts       timestamptz,
    local_ts timestamptz,
    s        text,
    c        text,
    flag     boolean
)
"""


@pytest.fixture
def warehouse(empty_url: str) -> Warehouse:
    wh = Warehouse(empty_url)
    yield wh
    wh.engine.dispose()


def concat(frames: list[pd.DataFrame], categorical: list[str]) -> pd.DataFrame:
    """Batches glued back together; categories differ per batch, so categoricals are compared as text."""
    frame = pd.concat(frames, ignore_index=True)
    for name in categorical:
        frame[name] = frame[name].astype("str").where(frame[name].notna())
    return frame


def test_iter_batches_matches_read_frame_on_the_feature_query(seeded_url: str) -> None:
    cfg = load_config()
    dataset = cfg.dataset
    query = dataset.sql_path.read_text()
    params = {"start": dt.datetime(2013, 3, 1, tzinfo=dt.UTC), "end": dt.datetime(2013, 3, 15, tzinfo=dt.UTC)}
    wh = Warehouse(seeded_url)
    try:
        whole = wh.read_frame(query, params, dataset.categorical_features)
        batches = list(wh.iter_batches(query, params, dataset.categorical_features, rows_per_batch=1_000))
    finally:
        wh.engine.dispose()

    assert len(whole) > 5_000
    assert [len(b) for b in batches[:-1]] == [1_000] * (len(batches) - 1)
    assert 0 < len(batches[-1]) <= 1_000
    for batch in batches:
        for name in dataset.categorical_features:
            assert isinstance(batch[name].dtype, pd.CategoricalDtype)
            assert list(batch[name].cat.categories) == sorted(batch[name].dropna().unique())
        assert batch[dataset.timestamp].dtype == "datetime64[us, UTC]"
    expected = concat([whole], dataset.categorical_features)
    pd.testing.assert_frame_equal(concat(batches, dataset.categorical_features), expected)
    # The label is NULL for cancelled flights: Int64 where a batch has one, int64 where it has none.
    assert whole[dataset.label].dtype == pd.Int64Dtype()
    assert {str(b[dataset.label].dtype) for b in batches} <= {"Int64", "int64"}


def test_iter_batches_nulls_and_batch_sizes(warehouse: Warehouse) -> None:
    rows, size = 25_000, 4_096  # not a multiple, and smaller than Arrow's CSV blocks
    with warehouse.transaction() as cur:
        whole = read_frame(cur, GENERATED, {"rows": rows}, ["c"])
        batches = list(iter_batches(cur, GENERATED, {"rows": rows}, ["c"], rows_per_batch=size))

    assert [len(b) for b in batches] == [size] * (rows // size) + [rows % size]
    assert whole["id"].dtype == "int64" and whole["n"].dtype == pd.Int64Dtype()
    assert whole["ts"].dtype == "datetime64[us, UTC]"
    glued = concat(batches, ["c"])
    pd.testing.assert_frame_equal(glued, concat([whole], ["c"]))
    assert glued["n"].isna().sum() == rows // 7
    assert glued["x"].isna().sum() == rows // 5
    assert glued["s"].isna().sum() == rows // 3
    assert (glued["s"] == "").sum() == len(range(1, rows + 1, 3))  # '' stays distinct from NULL
    assert glued["ts"].isna().sum() == rows // 13
    assert glued["ts"].iloc[0] == pd.Timestamp("2013-01-01 00:01:00.000001", tz="UTC")
    for batch in batches:
        assert batch["id"].dtype == "int64"
        assert batch["x"].dtype == "float64"
        assert batch["n"].dtype == pd.Int64Dtype()  # every batch of 4,096 rows holds a multiple of 7


def test_iter_batches_empty_result_and_one_small_batch(warehouse: Warehouse) -> None:
    with warehouse.transaction() as cur:
        assert list(iter_batches(cur, GENERATED, {"rows": 0}, ["c"])) == []
        empty = read_frame(cur, GENERATED, {"rows": 0}, ["c"])
        (only,) = list(iter_batches(cur, GENERATED, {"rows": 10}, ["c"], rows_per_batch=1_000))

    assert empty.empty and empty["id"].dtype == "int64" and empty["ts"].dtype == "datetime64[us, UTC]"
    assert isinstance(empty["c"].dtype, pd.CategoricalDtype)
    assert only["id"].tolist() == list(range(1, 11))


def test_iter_batches_rejects_a_bad_batch_size(warehouse: Warehouse) -> None:
    with warehouse.transaction() as cur, pytest.raises(ValueError, match="rows_per_batch"):
        next(iter_batches(cur, GENERATED, {"rows": 10}, rows_per_batch=0))


def test_leaving_iter_batches_early_keeps_the_transaction_usable(warehouse: Warehouse) -> None:
    with warehouse.transaction() as cur:
        batches = iter_batches(cur, GENERATED, {"rows": 50_000}, rows_per_batch=1_000)
        first = next(batches)
        batches.close()  # the rest of the COPY is read and discarded
        cur.execute("SELECT 42")
        assert cur.fetchone() == (42,)

    assert first["id"].tolist() == list(range(1, 1_001))


def test_a_query_failing_part_way_raises(warehouse: Warehouse) -> None:
    failing = "SELECT g, 1 / (g - 30000) AS boom FROM generate_series(1, 40000) AS g"

    with pytest.raises(WarehouseError, match="division by zero"):
        warehouse.read_frame(failing, {})
    with pytest.raises(WarehouseError, match="division by zero"):
        for _ in warehouse.iter_batches(failing, {}, rows_per_batch=1_000):
            pass


def test_write_frame_round_trip_of_a_large_frame(warehouse: Warehouse) -> None:
    rows = 200_000
    rng = np.random.default_rng(7)
    ts = pd.Series(pd.Timestamp("2013-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 10**13, rows), unit="us"))
    frame = pd.DataFrame(
        {
            "id": np.arange(rows, dtype="int64"),
            "n": pd.array(np.where(rng.random(rows) < 0.1, None, rng.integers(-(2**31), 2**31, rows)), "Int64"),
            "x": np.where(rng.random(rows) < 0.1, np.nan, rng.standard_normal(rows) * 1e6),
            "ts": ts.where(rng.random(rows) > 0.05).astype("datetime64[us, UTC]"),
            "local_ts": ts.dt.tz_convert("America/New_York"),
            "s": pd.Series(rng.choice(['O\'Hare, "IL"\nline two', "", "NA", "ü", "plain"], rows), dtype=object),
            "c": pd.Categorical(rng.choice(["EWR", "JFK", "LGA"], rows)),
            "flag": rng.random(rows) < 0.5,
        }
    )
    frame.loc[frame.index % 17 == 0, "s"] = None
    with warehouse.transaction() as cur:
        cur.execute(CREATE_TARGET)

    with warehouse.transaction() as cur:
        assert write_frame(cur, frame, "public.target") == rows
    back = warehouse.read_frame("SELECT * FROM target ORDER BY id", {}, categorical=["c"])

    assert back["n"].dtype == pd.Int64Dtype() and back["ts"].dtype == "datetime64[us, UTC]"
    pd.testing.assert_series_equal(back["n"], frame["n"])
    pd.testing.assert_series_equal(back["x"], frame["x"])
    pd.testing.assert_series_equal(back["ts"], frame["ts"])
    # The same instants, returned in UTC.
    pd.testing.assert_series_equal(
        back["local_ts"], frame["local_ts"].dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    )
    assert back["s"].isna().sum() == frame["s"].isna().sum()
    assert (back["s"].fillna("<null>") == frame["s"].fillna("<null>")).all()
    assert back["c"].astype(str).tolist() == frame["c"].astype(str).tolist()
    assert back["flag"].tolist() == frame["flag"].tolist()


def test_write_frame_nanosecond_timestamps_round_to_microseconds(warehouse: Warehouse) -> None:
    frame = pd.DataFrame({"id": [1], "ts": pd.Series([pd.Timestamp("2013-01-01 00:00:00.123456789", tz="UTC")])})
    with warehouse.transaction() as cur:
        cur.execute(CREATE_TARGET)
        write_frame(cur, frame, "public.target")
        cur.execute("SELECT ts FROM target")
        assert cur.fetchone()[0] == dt.datetime(2013, 1, 1, 0, 0, 0, 123457, tzinfo=dt.UTC)


def test_write_frame_formatting_failure_aborts_the_copy(warehouse: Warehouse) -> None:
    with warehouse.transaction() as cur:
        cur.execute(CREATE_TARGET)
    # Arrow converts a column of lists but cannot write it as CSV: the COPY must fail, not load 0 rows.
    frame = pd.DataFrame({"id": [1, 2], "s": [[1], [2]]})

    with pytest.raises(WarehouseError, match="COPY from stdin failed") as info:
        with warehouse.transaction() as cur:
            write_frame(cur, frame, "public.target")

    assert "list" in str(info.value.__cause__.__cause__)
    with warehouse.transaction() as cur:
        cur.execute("SELECT count(*) FROM target")
        assert cur.fetchone() == (0,)
