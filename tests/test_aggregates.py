"""Declared aggregates (pipeline.features.aggregates) on the seeded 2013 data: the flight model's
daily aggregate is built for the periods an extraction reads and no further, recorded once, rebuilt
when its definition changes, built once under concurrent refreshes, restated on demand after a late
correction, and a gap in the sources is an error that names the day, while a window with no entities is
still just empty."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline.cli import main
from pipeline.config import AggregateConfig, DatasetConfig, load_config
from pipeline.data.warehouse import Warehouse
from pipeline.features import aggregates
from pipeline.features.aggregates import MissingSourcePeriodError, refresh
from pipeline.features.build import extract_feature_table, window_cutoffs

UTC = dt.UTC
DAY = dt.timedelta(days=1)


@pytest.fixture
def warehouse(fresh_seeded_url: str) -> Warehouse:
    wh = Warehouse(fresh_seeded_url)
    yield wh
    wh.engine.dispose()


@pytest.fixture(scope="module")
def dataset() -> DatasetConfig:
    return load_config("flight_delay").dataset


def _recorded(warehouse: Warehouse, name: str) -> list[dt.datetime]:
    span = {"aggregate": name, "start": dt.datetime(2000, 1, 1, tzinfo=UTC), "end": dt.datetime(2100, 1, 1, tzinfo=UTC)}
    return [row["period_start"] for row in warehouse.fetch("aggregates/built", span)]


def test_refresh_builds_the_known_periods_a_window_reads_once(warehouse: Warehouse, dataset: DatasetConfig) -> None:
    agg = dataset.aggregates[0]
    noon = dt.datetime(2013, 5, 20, 12, tzinfo=UTC)
    [done] = refresh(warehouse, [agg], noon, noon)
    # The 28 whole days before the cutoff's day; not the cutoff's own day, which is not over.
    want = [dt.datetime(2013, 4, 22, tzinfo=UTC) + i * DAY for i in range(28)]
    assert done.built == want and done.absent == []
    assert _recorded(warehouse, agg.name) == want
    [again] = refresh(warehouse, [agg], noon, noon + dt.timedelta(hours=11))
    assert again.built == []  # idempotent: nothing is rebuilt
    [next_day] = refresh(warehouse, [agg], noon + DAY, noon + DAY)
    assert next_day.built == [dt.datetime(2013, 5, 20, tzinfo=UTC)]  # one new day: one period
    rows = warehouse.fetch("aggregates/built", {"aggregate": agg.name, "start": want[0], "end": want[0] + DAY})
    assert rows[0]["definition"] == aggregates.definition(agg)


def test_a_changed_definition_makes_the_periods_stale(
    warehouse: Warehouse, dataset: DatasetConfig, tmp_path: Path
) -> None:
    agg = dataset.aggregates[0]
    noon = dt.datetime(2013, 5, 20, 12, tzinfo=UTC)
    refresh(warehouse, [agg], noon, noon)
    edited = tmp_path / "edited.sql"
    edited.write_text(f"-- a new version of the statements\n{agg.text('build')}")
    changed = AggregateConfig.model_validate({**agg.model_dump(), "build_sql": edited})
    [done] = refresh(warehouse, [changed], noon, noon)
    assert len(done.built) == 28
    [again] = refresh(warehouse, [changed], noon, noon)
    assert again.built == []


def test_concurrent_refreshes_build_each_period_once(fresh_seeded_url: str, dataset: DatasetConfig) -> None:
    agg = dataset.aggregates[0]
    cutoff = dt.datetime(2013, 8, 1, 9, tzinfo=UTC)
    results: list = []

    def run() -> None:
        wh = Warehouse(fresh_seeded_url)
        results.extend(refresh(wh, [agg], cutoff, cutoff))
        wh.engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    built = sorted(p for r in results for p in r.built)
    assert built == [dt.datetime(2013, 7, 4, tzinfo=UTC) + i * DAY for i in range(28)]  # each once


def test_a_missing_source_day_is_an_error_that_names_it(warehouse: Warehouse, dataset: DatasetConfig) -> None:
    rule = load_config("flight_delay").cutoff_rule
    with warehouse.transaction() as cur:
        cur.execute(
            "DELETE FROM nycflights13.flights WHERE time_hour >= %s AND time_hour < %s",
            (dt.datetime(2013, 6, 10, tzinfo=UTC), dt.datetime(2013, 6, 11, tzinfo=UTC)),
        )
    start = dt.datetime(2013, 6, 20, 14, tzinfo=UTC)
    with pytest.raises(MissingSourcePeriodError, match="2013-06-10 00:00"):
        extract_feature_table(warehouse, dataset, rule, start, start + dt.timedelta(hours=1), require_label=False)
    # The days after the gap were built; the gap was not recorded as built (no silent zero).
    recorded = _recorded(warehouse, dataset.aggregates[0].name)
    assert dt.datetime(2013, 6, 10, tzinfo=UTC) not in recorded and dt.datetime(2013, 6, 11, tzinfo=UTC) in recorded


def test_a_window_without_entities_is_empty_not_an_error(warehouse: Warehouse, dataset: DatasetConfig) -> None:
    """After the data ends, the days the window would read have no source rows, but nothing is scored:
    the frame is empty (the predict stage skips the run) rather than an error."""
    rule = load_config("flight_delay").cutoff_rule
    start = dt.datetime(2014, 1, 5, 14, tzinfo=UTC)
    first, last = window_cutoffs(rule, start, start + dt.timedelta(hours=1))
    [done] = refresh(warehouse, dataset.aggregates, first, last)
    assert done.absent  # 2014-01-02 to 2014-01-04 hold no flights
    frame = extract_feature_table(warehouse, dataset, rule, start, start + dt.timedelta(hours=1), require_label=False)
    assert frame.empty


def _tiles(warehouse: Warehouse) -> dict[tuple, tuple]:
    with warehouse.transaction() as cur:
        cur.execute("SELECT grp, k, period_start, flights, delayed FROM features.flight_outcomes_daily")
        return {tuple(row[:3]): tuple(row[3:]) for row in cur.fetchall()}


def test_restate_rebuilds_a_period_whose_sources_were_corrected_late(
    warehouse: Warehouse, dataset: DatasetConfig, fresh_seeded_url: str, monkeypatch, capsys
) -> None:
    """Departure delays corrected after their day was built: refresh keeps the built day (it is current
    by its records), restate rebuilds that day from the sources as they are now, and no other."""
    agg = dataset.aggregates[0]
    noon = dt.datetime(2013, 5, 20, 12, tzinfo=UTC)
    refresh(warehouse, [agg], noon, noon)
    before = _tiles(warehouse)
    day = dt.datetime(2013, 5, 10, tzinfo=UTC)
    hour = "time_hour >= '2013-05-10 12:00+00' AND time_hour < '2013-05-10 13:00+00' AND origin = 'JFK'"
    with warehouse.transaction() as cur:
        cur.execute(f"SELECT count(*) FROM nycflights13.flights WHERE {hour} AND dep_delay <= 15")
        corrected = cur.fetchone()[0]
        cur.execute(f"UPDATE nycflights13.flights SET dep_delay = 120 WHERE {hour} AND dep_delay <= 15")
    assert corrected > 0
    [again] = refresh(warehouse, [agg], noon, noon)
    assert again.built == [] and _tiles(warehouse) == before  # the correction is not seen

    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", fresh_seeded_url)
    assert main(["restate-aggregates", "--model", "flight_delay", "--start", "2013-05-10", "--end", "2013-05-11"]) == 0
    assert "1 period(s) rebuilt from source rows" in capsys.readouterr().out
    after = _tiles(warehouse)
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    assert changed and {key[2] for key in changed} == {day}  # that day only
    flights, delayed = before[("origin", "JFK", day)]
    assert after[("origin", "JFK", day)] == (flights, delayed + corrected)  # the same outcomes, now delayed
    # A period not over yet is refused, and nothing is rebuilt.
    assert main(["restate-aggregates", "--model", "flight_delay", "--start", "2013-05-10", "--end", "2999-01-01"]) == 2
    assert "not known before" in capsys.readouterr().err
    assert _tiles(warehouse) == after


def test_aggregate_config_is_validated(tmp_path: Path) -> None:
    agg = load_config("flight_delay").dataset.aggregates[0].model_dump()
    for change, message in (
        ({"name": "Bad-Name"}, "lowercase words"),
        ({"build_sql": tmp_path / "missing.sql"}, "file not found"),
        ({"period": "PT0S"}, "greater than 0"),
        ({"origin": "2000-01-01T00:00:00"}, "no time zone"),
    ):
        with pytest.raises(ValueError, match=message):
            AggregateConfig.model_validate({**agg, **change})


def test_window_cutoffs_take_airflows_pendulum_datetimes() -> None:
    """A predict task's data interval arrives as pendulum datetimes, which cannot be subtracted from a
    zoneinfo-aware origin: the run context hands the stages plain datetimes, from which the window's
    cutoffs are computed."""
    import pendulum
    from dag_toolkit.context import run_context

    rule = load_config("flight_delay").cutoff_rule
    end = pendulum.datetime(2013, 3, 12, 14, tz="UTC")
    dag = SimpleNamespace(dag_id="predict__flight_delay")
    ctx = run_context(
        {"dag": dag, "run_id": "r", "data_interval_start": end.subtract(hours=1), "data_interval_end": end}
    )
    lo, hi = rule.window(ctx.end)
    assert window_cutoffs(rule, lo, hi) == (end, end)
