"""Forecasts, not hindcasts: a predict run cut off at T scores the window [T + lead, T + lead + horizon)
with features as of T, its rows record as_of and the window, the schedule and the cutoff rule must
agree, and training and the monitor use only labels observed by their own cutoff."""

from __future__ import annotations

import datetime as dt
import json
import random
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.data.warehouse import Warehouse
from pipeline.features.build import CutoffMismatchError, count_entities, extract_feature_table
from pipeline.models.train import TimeSplit, known_labels, split_by_time
from pipeline.schedule import CutoffRule, cutoffs
from pipeline.stages import RunContext, Runtime, monitor, predict, retrain
from pipeline.stages.runtime import open_warehouse

UTC = dt.UTC
NY = ZoneInfo("America/New_York")
HOUR = dt.timedelta(hours=1)
CFG = load_config("flight_delay")
RULE = CFG.cutoff_rule
# The demo's retrain tick: Sunday 2013-03-10 00:00 in New York (EST), the night DST starts.
SUNDAY = dt.datetime(2013, 3, 10, tzinfo=NY)
# A Tuesday morning of the demo, New York time (EDT since the Sunday).
MORNING = dt.datetime(2013, 3, 12, 6, tzinfo=NY)


def test_the_demo_rule_scores_the_hour_after_next():
    assert RULE == CutoffRule(HOUR, HOUR, dt.datetime(2013, 1, 1, tzinfo=NY))
    assert RULE.window(MORNING) == (MORNING + HOUR, MORNING + 2 * HOUR)
    # every entity in a run's window has that run's cutoff
    for minutes in (0, 1, 59):
        assert RULE.cutoff(MORNING + HOUR + dt.timedelta(minutes=minutes)) == MORNING
    assert RULE.cutoff(MORNING + 2 * HOUR) == MORNING + HOUR
    # a range of ticks: the runs that tile (start, end]
    assert cutoffs(RULE, MORNING, MORNING + 3 * HOUR) == [MORNING + i * HOUR for i in (1, 2, 3)]
    assert cutoffs(RULE, MORNING - dt.timedelta(minutes=30), MORNING) == [MORNING]
    assert cutoffs(RULE, None, MORNING) == [MORNING]
    with pytest.raises(ValueError, match="not a tick"):
        cutoffs(RULE, None, MORNING + dt.timedelta(minutes=30))


def _sample_timestamps() -> list[dt.datetime]:
    """Timestamps every 7 minutes around both 2013 DST changes in New York, plus random ones over the year."""
    rng = random.Random(10)
    around = [
        day + dt.timedelta(minutes=7 * i)
        for day in (dt.datetime(2013, 3, 9, 12, tzinfo=UTC), dt.datetime(2013, 11, 2, 12, tzinfo=UTC))
        for i in range(400)
    ]
    year = [dt.datetime(2013, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=rng.randrange(365 * 86400)) for _ in range(300)]
    return around + year


@pytest.mark.parametrize(
    "rule",
    [
        RULE,
        CutoffRule(dt.timedelta(minutes=90), HOUR, dt.datetime(2013, 1, 1, tzinfo=NY)),
        CutoffRule(dt.timedelta(0), dt.timedelta(days=1), dt.datetime(2013, 1, 1, tzinfo=UTC)),
    ],
)
def test_the_python_cutoff_agrees_with_sql_date_bin_across_dst(seeded_url, rule):
    stamps = _sample_timestamps()
    with Warehouse(seeded_url).transaction() as cur:
        cur.execute(
            "SELECT date_bin(%(horizon)s, t - %(lead)s, %(origin)s) FROM unnest(%(stamps)s::timestamptz[]) "
            "WITH ORDINALITY AS s (t, i) ORDER BY i",
            {"horizon": rule.horizon, "lead": rule.lead, "origin": rule.origin, "stamps": stamps},
        )
        sql = [row[0] for row in cur.fetchall()]
    # in UTC and as New York wall-clock times alike
    assert [rule.cutoff(t) for t in stamps] == sql
    assert [rule.cutoff(t.astimezone(NY)) for t in stamps] == sql


def test_the_feature_query_returns_each_rows_cutoff_on_a_dst_day(seeded_url):
    start = dt.datetime(2013, 11, 3, tzinfo=NY)  # 25 hours long in New York
    frame = extract_feature_table(Warehouse(seeded_url), CFG.dataset, RULE, start, start + dt.timedelta(days=1), True)
    assert len(frame) > 500
    assert (frame["as_of"] == frame[CFG.dataset.timestamp].map(RULE.cutoff)).all()
    assert (frame["as_of"] <= frame[CFG.dataset.timestamp] - RULE.lead).all()
    known = frame["label_known_at"].dropna()
    # known at departure, or 15 minutes after schedule if not gone by then (early departures: before it)
    assert len(known) and (known <= frame.loc[known.index, CFG.dataset.timestamp] + dt.timedelta(minutes=15)).all()


def test_known_labels_keeps_labels_observed_by_the_cutoff_and_drops_later_ones():
    ds, cutoff = CFG.dataset, dt.datetime(2013, 3, 10, 5, tzinfo=UTC)
    stamps = ["2013-03-10 00:00", "2013-03-10 03:00", "2013-03-10 04:40", "2013-03-10 04:50", "2013-03-10 04:00"]
    frame = pd.DataFrame(
        {
            ds.timestamp: pd.to_datetime(stamps).tz_localize(UTC),
            ds.label: pd.array([0, 1, 0, 1, pd.NA], dtype="Int16"),
            ds.label_known_at: pd.to_datetime(
                ["2013-03-10 00:10", "2013-03-10 03:20", "2013-03-10 05:00", "2013-03-10 05:05", None]
            ).tz_localize(UTC),
        }
    )
    masked = known_labels(frame, ds, cutoff)
    # observed at 05:00 is known by the 05:00 cutoff (known-at is closed), 05:05 is not; a cancelled flight (no
    # label, no time) stays unlabelled
    assert masked[ds.label].isna().tolist() == [False, False, False, True, True]
    assert frame[ds.label].notna().sum() == 4  # the input is not changed
    split = TimeSplit(cutoff - dt.timedelta(days=1), cutoff - dt.timedelta(hours=3), cutoff)
    train, holdout = split_by_time(frame, split, ds, CFG.task)  # the same rule, at the holdout's end
    assert train[ds.timestamp].tolist() == [frame[ds.timestamp][0]]
    assert holdout[ds.timestamp].tolist() == [frame[ds.timestamp][1], frame[ds.timestamp][2]]


@pytest.fixture
def champion(snapshot, make_config):
    """flight_delay (hourly in New York, lead 1h) on a database and artifact folder of its own, with a
    champion v1 retrained at the Sunday tick 2013-03-10 00:00 New York (trained once per session)."""

    def prepare(url: str, root: str) -> None:
        cfg = make_config(url, root, model={"params": {"max_iter": 10}})
        retrain.run(Runtime(cfg, RunContext("retrain__flight_delay", "r1", SUNDAY - dt.timedelta(days=7), SUNDAY)))

    return make_config(*snapshot("sunday_champion", prepare), model={"params": {"max_iter": 10}})


def query(cfg, text: str, params: dict | None = None) -> list[tuple]:
    with open_warehouse(cfg).transaction() as cur:
        cur.execute(text, params)
        return cur.fetchall()


def test_training_uses_only_labels_known_before_its_cutoff(champion):
    cfg = champion
    version = query(cfg, "SELECT metrics, holdout_end FROM ml.model_versions WHERE version = 1")[0]
    metrics, holdout_end = version
    assert holdout_end == SUNDAY  # the holdout ends at the cutoff
    # Flights departing shortly before the cutoff had not left yet, or not 15 minutes past schedule.
    frame = extract_feature_table(
        open_warehouse(cfg), cfg.dataset, cfg.cutoff_rule, SUNDAY - dt.timedelta(days=7), SUNDAY, True
    )
    late = frame[frame[cfg.dataset.label].notna() & (frame["label_known_at"] >= SUNDAY)]
    assert metrics["holdout_rows_not_yet_labelled"] == len(late) > 0


def test_predict_runs_score_the_window_after_their_cutoff_once(champion, monkeypatch, capsys):
    cfg = champion
    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", cfg.warehouse.url)
    monkeypatch.setenv("PIPELINE_ARTIFACTS__ROOT", cfg.artifacts.root)
    first, last = MORNING, MORNING + 3 * HOUR
    args = ["predict", "--model", "flight_delay", "--start", first.isoformat(), "--end", last.isoformat()]
    assert main(args) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["end"] for r in results] == [(first + i * HOUR).astimezone(UTC).isoformat() for i in (1, 2, 3)]
    counts = {
        cutoff: count_entities(open_warehouse(cfg), cfg.dataset, RULE, *RULE.window(cutoff))
        for cutoff in cutoffs(RULE, first, last)
    }
    assert all(counts.values())

    rows = query(
        cfg,
        "SELECT p.as_of, p.window_start, p.window_end, p.data_interval_start, p.data_interval_end, count(*), "
        "bool_and(p.as_of <= f.time_hour + make_interval(mins => f.minute) - interval '1 hour'), "
        "bool_and(f.time_hour + make_interval(mins => f.minute) >= p.window_start "
        "         AND f.time_hour + make_interval(mins => f.minute) < p.window_end) "
        "FROM ml.flight_delay_predictions AS p JOIN nycflights13.flights AS f ON f.flight_id = p.flight_id "
        "WHERE p.is_champion GROUP BY 1, 2, 3, 4, 5 ORDER BY 1",
    )
    assert [r[:5] for r in rows] == [(t, *RULE.window(t), t - HOUR, t) for t in counts]
    assert [r[5] for r in rows] == list(counts.values())
    assert all(r[6] and r[7] for r in rows)  # as_of <= departure - lead; every flight inside its run's window

    # The monitor cut off at the last tick measures the predictions made for its window against the
    # labels observed by that cutoff only.
    result = monitor.measure(Runtime(cfg, RunContext("monitor__flight_delay", "m1", last - dt.timedelta(days=1), last)))
    ds = cfg.dataset
    table = extract_feature_table(
        open_warehouse(cfg), ds, RULE, last - dt.timedelta(days=cfg.monitoring.window_days), last, False
    )
    made = pd.DataFrame(
        query(cfg, "SELECT flight_id, prediction FROM ml.flight_delay_predictions WHERE is_champion"),
        columns=[*ds.key, "prediction"],
    ).merge(table, on=ds.key)
    known = known_labels(made, ds, last)
    labelled = known[known[ds.label].notna()]
    assert 0 < len(labelled) < made[ds.label].notna().sum()  # some labels were observed only after the cutoff
    assert result["realized_value"] == pytest.approx(
        roc_auc_score(labelled[ds.label].astype(int), labelled["prediction"])
    )

    # A retry of the middle hour (another run id) replaces its rows, never adds to them.
    before = query(cfg, "SELECT count(*) FROM ml.flight_delay_predictions")[0][0]
    middle = first + 2 * HOUR
    assert main(["predict", "--model", "flight_delay", "--end", middle.isoformat()]) == 0
    assert query(cfg, "SELECT count(*) FROM ml.flight_delay_predictions")[0][0] == before
    assert query(cfg, "SELECT count(DISTINCT run_id) FROM ml.flight_delay_predictions")[0][0] == 3


def test_a_run_whose_end_is_not_a_tick_is_refused(champion):
    cfg = champion
    off = MORNING + dt.timedelta(minutes=30)  # the schedule and the cutoff rule disagree
    with pytest.raises(CutoffMismatchError, match="the schedule and the cutoff rule disagree"):
        predict.run(Runtime(cfg, RunContext("predict__flight_delay", "off", off - HOUR, off)))
    assert query(cfg, "SELECT count(*) FROM ml.flight_delay_predictions")[0][0] == 0
    assert query(cfg, "SELECT count(*) FROM ml.flight_delay_predictions_staging")[0][0] == 0
