"""Tests of the bulk paths on a real PostgreSQL database: ``read_frame`` (rows, dtypes, nulls, empty
results, failures part-way) and ``BulkSession.write_frame`` round trips of a large frame, including
data that cannot be converted, which must fail the write instead of loading part of it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipeline.config import load_config
from pipeline.data.warehouse import Warehouse, WarehouseError
from pipeline.features.aggregates import refresh
from pipeline.features.build import window_cutoffs, window_params

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


def test_read_frame_on_the_feature_query(seeded_url: str) -> None:
    cfg = load_config("flight_delay")
    dataset = cfg.dataset
    query = dataset.sql_path.read_text()
    params = window_params(
        cfg.cutoff_rule, dt.datetime(2013, 3, 1, tzinfo=dt.UTC), dt.datetime(2013, 3, 15, tzinfo=dt.UTC)
    )
    wh = Warehouse(seeded_url)
    try:
        refresh(wh, dataset.aggregates, *window_cutoffs(cfg.cutoff_rule, params["start"], params["end"]))
        whole = wh.read_frame(query, params, dataset.categorical_features)
    finally:
        wh.engine.dispose()

    assert len(whole) > 5_000
    for name in dataset.categorical_features:
        assert isinstance(whole[name].dtype, pd.CategoricalDtype)
        assert list(whole[name].cat.categories) == sorted(whole[name].dropna().unique())
    assert whole[dataset.timestamp].dtype == "datetime64[us, UTC]"
    # The label is NULL for cancelled flights: Int64.
    assert whole[dataset.label].dtype == pd.Int64Dtype()


def test_read_frame_nulls_on_a_large_result(warehouse: Warehouse) -> None:
    rows = 25_000
    whole = warehouse.read_frame(GENERATED, {"rows": rows}, ["c"])

    assert len(whole) == rows
    assert whole["id"].dtype == "int64" and whole["n"].dtype == pd.Int64Dtype()
    assert whole["x"].dtype == "float64" and whole["ts"].dtype == "datetime64[us, UTC]"
    assert whole["n"].isna().sum() == rows // 7
    assert whole["x"].isna().sum() == rows // 5
    assert whole["s"].isna().sum() == rows // 3
    assert (whole["s"] == "").sum() == len(range(1, rows + 1, 3))  # '' stays distinct from NULL
    assert whole["ts"].isna().sum() == rows // 13
    assert whole["c"].isna().sum() == rows // 9
    assert list(whole["c"].cat.categories) == ["c0", "c1", "c2", "c3"]
    assert whole["ts"].iloc[0] == pd.Timestamp("2013-01-01 00:01:00.000001", tz="UTC")


def test_read_frame_empty_result(warehouse: Warehouse) -> None:
    empty = warehouse.read_frame(GENERATED, {"rows": 0}, ["c"])

    assert empty.empty and empty["id"].dtype == "int64" and empty["ts"].dtype == "datetime64[us, UTC]"
    assert isinstance(empty["c"].dtype, pd.CategoricalDtype)


def test_a_query_failing_part_way_raises(warehouse: Warehouse) -> None:
    failing = "SELECT g, 1 / (g - 30000) AS boom FROM generate_series(1, 40000) AS g"

    with pytest.raises(WarehouseError, match="division by zero"):
        warehouse.read_frame(failing, {})


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

    with warehouse.bulk() as session:
        assert session.write_frame(frame, "public.target") == rows
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
    with warehouse.bulk() as session:
        session.write_frame(frame, "public.target")
    with warehouse.transaction() as cur:
        cur.execute("SELECT ts FROM target")
        assert cur.fetchone()[0] == dt.datetime(2013, 1, 1, 0, 0, 0, 123457, tzinfo=dt.UTC)


def test_write_frame_unconvertible_data_writes_nothing(warehouse: Warehouse) -> None:
    with warehouse.transaction() as cur:
        cur.execute(CREATE_TARGET)
    # A column of lists cannot become text: the write fails, and the earlier write of the session too.
    frame = pd.DataFrame({"id": [1, 2], "s": [[1], [2]]})

    with pytest.raises(WarehouseError, match="cannot write to public.target") as info:
        with warehouse.bulk() as session:
            session.write_frame(pd.DataFrame({"id": [3], "s": ["fine"]}), "public.target")
            session.write_frame(frame, "public.target")

    assert "list" in str(info.value.__cause__)
    with warehouse.transaction() as cur:
        cur.execute("SELECT count(*) FROM target")
        assert cur.fetchone() == (0,)
