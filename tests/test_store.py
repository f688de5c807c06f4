"""The offline store (pipeline.features.store) on the seeded 2013 data: an extraction reads the days final
at its last cutoff from the store and computes the rest, with the same rows as the feature query alone;
each day is computed once; a predict window is never stored; a new cutoff rule recreates the store; and a
restatement forgets the stored days so a late correction is seen."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.config import FeatureStoreConfig, load_config
from pipeline.data.warehouse import Warehouse
from pipeline.features import store
from pipeline.features.aggregates import MissingSourcePeriodError
from pipeline.features.build import count_entities, extract_feature_table

UTC = dt.UTC
DAY = dt.timedelta(days=1)
CFG = load_config("flight_delay")
START = dt.datetime(2013, 5, 1, 4, tzinfo=UTC)  # entity timestamps in [START, END): a week of flights
END = dt.datetime(2013, 5, 8, 4, tzinfo=UTC)
# Final at the last cutoff (May 8 02:00: the cutoff of a flight at 03:59, an hour ahead, on the hour) with
# known_after P1D: the UTC days that end by May 7 02:00, May 1 to 6.
STORED = [dt.datetime(2013, 5, 1, tzinfo=UTC) + i * DAY for i in range(6)]


@pytest.fixture
def warehouse(fresh_seeded_url: str) -> Warehouse:
    wh = Warehouse(fresh_seeded_url)
    yield wh
    wh.engine.dispose()


def _extract(warehouse: Warehouse, cfg=CFG, stored: bool = True) -> pd.DataFrame:
    dataset = cfg.dataset if stored else cfg.dataset.model_copy(update={"store": None})
    return extract_feature_table(warehouse, dataset, cfg.cutoff_rule, START, END, require_label=True)


def _records(warehouse: Warehouse, since: dt.datetime = START - DAY) -> list[dict]:
    span = {"aggregate": CFG.dataset.store.name, "start": since, "end": END + 30 * DAY}
    with warehouse.transaction() as cur:
        cur.execute(
            "SELECT period_start, source_rows, definition, built_at FROM ml.aggregate_periods "
            "WHERE aggregate = %(aggregate)s AND period_start >= %(start)s AND period_start < %(end)s "
            "ORDER BY period_start",
            span,
        )
        return [dict(zip(("start", "rows", "definition", "built_at"), r, strict=True)) for r in cur.fetchall()]


def test_the_store_returns_the_querys_rows_and_computes_each_day_once(warehouse: Warehouse) -> None:
    live = _extract(warehouse, stored=False)
    assert not warehouse.table_exists(CFG.dataset.store.table)
    first = _extract(warehouse)
    pd.testing.assert_frame_equal(first, live, check_exact=True)
    records = _records(warehouse)
    assert [r["start"] for r in records] == STORED  # not the days still open at the last cutoff
    # whole days, from May 1 00:00: the store's days hold the rows before START too
    assert sum(r["rows"] for r in records) == count_entities(
        warehouse, CFG.dataset, CFG.cutoff_rule, STORED[0], STORED[-1] + DAY
    )
    assert {r["definition"] for r in records} == {store.definition(CFG.dataset, CFG.cutoff_rule)}
    with warehouse.transaction() as cur:  # the stored rows are what the second extraction reads
        cur.execute(f"UPDATE {CFG.dataset.store.table} SET origin_departed_1h = -1")
    second = _extract(warehouse)
    assert _records(warehouse) == records  # nothing computed again
    read = (second["scheduled_departure"] < STORED[-1] + DAY).to_numpy()
    assert (second.loc[read, "origin_departed_1h"] == -1).all()
    pd.testing.assert_frame_equal(second.loc[~read], live.loc[~read], check_exact=True)  # the open days: computed


def test_a_predict_window_is_computed_not_stored(warehouse: Warehouse) -> None:
    cutoff = dt.datetime(2013, 5, 20, 14, tzinfo=UTC)
    frame = extract_feature_table(
        warehouse, CFG.dataset, CFG.cutoff_rule, *CFG.cutoff_rule.window(cutoff), require_label=False
    )
    assert len(frame) > 0 and (frame["as_of"] == cutoff).all()
    assert not warehouse.table_exists(CFG.dataset.store.table) and _records(warehouse) == []


def test_a_changed_definition_recreates_the_store(warehouse: Warehouse, tmp_path) -> None:
    """Another cutoff rule gives other rows; another query, other columns: the table is dropped and
    created again from the query, and every day computed again."""
    _extract(warehouse)
    later = load_config("flight_delay", predictions={"lead": "PT2H"})
    assert store.definition(later.dataset, later.cutoff_rule) != store.definition(CFG.dataset, CFG.cutoff_rule)
    pd.testing.assert_frame_equal(
        _extract(warehouse, later), _extract(warehouse, later, stored=False), check_exact=True
    )
    assert {r["definition"] for r in _records(warehouse)} == {store.definition(later.dataset, later.cutoff_rule)}

    query = tmp_path / "flights_with_one_more_column.sql"
    text = CFG.dataset.sql_path.read_text()
    query.write_text(
        text.replace("AS dep_delayed_15\nFROM target AS t", "AS dep_delayed_15,\n    7 AS seven\nFROM target AS t")
    )
    wider = load_config("flight_delay", dataset={"feature_sql": str(query)})
    frame = _extract(warehouse, wider)
    assert (frame["seven"] == 7).all()
    pd.testing.assert_frame_equal(frame, _extract(warehouse, wider, stored=False), check_exact=True)
    assert [r["start"] for r in _records(warehouse)] == STORED


def test_runs_of_missing_days_are_computed_in_chunks_around_the_stored_ones(warehouse: Warehouse) -> None:
    """Days stored before, in the middle of a longer window: the days before them (more than a chunk of
    31) and after them are computed in two runs, and the rows are still the query's."""
    _extract(warehouse)
    start, end = dt.datetime(2013, 3, 25, 4, tzinfo=UTC), dt.datetime(2013, 5, 20, 4, tzinfo=UTC)
    rule = CFG.cutoff_rule
    frame = extract_feature_table(warehouse, CFG.dataset, rule, start, end, require_label=True)
    live = CFG.dataset.model_copy(update={"store": None})
    pd.testing.assert_frame_equal(
        frame, extract_feature_table(warehouse, live, rule, start, end, True), check_exact=True
    )
    # to May 18: the days final at the last cutoff, May 20 02:00, with known_after P1D
    want = [dt.datetime(2013, 3, 25, tzinfo=UTC) + i * DAY for i in range(55)]
    assert [r["start"] for r in _records(warehouse, start - DAY)] == want


def test_nothing_is_stored_from_a_day_missing_in_the_sources_on(warehouse: Warehouse) -> None:
    """A day without flights in the middle of the window: the extraction fails naming it, and no day whose
    rows would read it is stored, so loading it later is seen."""
    with warehouse.transaction() as cur:
        cur.execute("DELETE FROM nycflights13.flights WHERE time_hour >= '2013-05-03' AND time_hour < '2013-05-04'")
    with pytest.raises(MissingSourcePeriodError, match="2013-05-03 00:00"):
        _extract(warehouse)
    assert [r["start"] for r in _records(warehouse)] == STORED[:2]


def test_a_restatement_forgets_the_stored_days_from_its_start(
    warehouse: Warehouse, fresh_seeded_url: str, monkeypatch, capsys
) -> None:
    """A departure delay corrected after its day was stored: extractions keep reading the stored rows until
    ``restate-aggregates`` forgets the days from the corrected one on; then they compute them again."""
    before = _extract(warehouse)
    with warehouse.transaction() as cur:
        cur.execute(
            "UPDATE nycflights13.flights SET dep_delay = 120 WHERE time_hour >= '2013-05-03 12:00+00' "
            "AND time_hour < '2013-05-03 13:00+00' AND origin = 'JFK' AND dep_delay <= 15"
        )
        assert cur.rowcount > 0
    pd.testing.assert_frame_equal(_extract(warehouse), before, check_exact=True)  # not seen

    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", fresh_seeded_url)
    assert main(["restate-aggregates", "--model", "flight_delay", "--start", "2013-05-03", "--end", "2013-05-04"]) == 0
    # From a day before May 3 (known_after): a flight of May 2 may have left, and its label be observed, on May 3.
    assert f"{CFG.dataset.store.table}: 5 stored period(s)" in capsys.readouterr().out  # May 2 to 6
    assert [r["start"] for r in _records(warehouse)] == STORED[:1]
    after = _extract(warehouse)
    pd.testing.assert_frame_equal(after, _extract(warehouse, stored=False), check_exact=True)
    changed = after.compare(before)
    assert len(changed) > 0
    assert (after.loc[changed.index, "scheduled_departure"] >= dt.datetime(2013, 5, 3, 12, tzinfo=UTC)).all()
    assert [r["start"] for r in _records(warehouse)] == STORED


def test_a_table_the_pipeline_did_not_create_is_never_dropped(warehouse: Warehouse) -> None:
    with warehouse.transaction() as cur:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS features; CREATE TABLE {CFG.dataset.store.table} AS SELECT 1 AS mine")
    with pytest.raises(store.StoreTableError, match="is not an offline store the pipeline created"):
        _extract(warehouse)
    with warehouse.transaction() as cur:
        cur.execute(f"SELECT mine FROM {CFG.dataset.store.table}")
        assert cur.fetchall() == [(1,)]
    _extract(warehouse, stored=False)  # without the store, the extraction runs


def test_store_config_is_validated() -> None:
    good = CFG.dataset.store.model_dump()
    for change, message in (
        ({"table": "rows"}, "schema.table"),
        ({"period": "PT0S"}, "greater than 0"),
        ({"origin": "2000-01-01T00:00:00"}, "no time zone"),
        ({"known_after": "-PT1H"}, "greater than or equal to 0"),
    ):
        with pytest.raises(ValueError, match=message):
            FeatureStoreConfig.model_validate({**good, **change})
    without = {k: v for k, v in good.items() if k != "known_after"}
    with pytest.raises(ValueError, match="known_after"):
        FeatureStoreConfig.model_validate(without)
