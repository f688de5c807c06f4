"""The retraining study's replay: policies retrain when they should, fits are shared, every prediction
is made from data known at its cutoff by a model trained before it, no label is used before it was
known, the monitor follows its rule on the evidence it had, and the outputs are written.

Most tests replay a small synthetic feature table shaped like the real one (the configured key,
timestamp, features, label, ``as_of`` from the hourly New York cutoff rule with lead 1 h, and
``label_known_at``) over five weeks; the label's dependence on the first numeric feature flips
sign at FLIP, so the champion's realized AUC falls and the monitor must react. One test runs the CLI
on a few days of the real seeded data.
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import psycopg2
import pytest
from sklearn.metrics import roc_auc_score

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.data.seed import seed
from pipeline.data.warehouse import Warehouse
from pipeline.experiments import retraining
from pipeline.experiments.retraining import POLICIES, describe, markdown_table, replay, save

NY = ZoneInfo("America/New_York")
START = dt.datetime(2013, 3, 1, tzinfo=NY)
END = dt.datetime(2013, 4, 6, tzinfo=NY)
FLIP = dt.datetime(2013, 3, 12, tzinfo=NY)
ROWS_PER_DAY = 150


@pytest.fixture(scope="module")
def cfg():
    return load_config(
        "flight_delay",
        model={"params": {"max_iter": 10}},
        schedule={"predict": "@hourly", "timezone": "America/New_York"},
        predictions={"lead": "PT1H"},
    )


def synthetic_table(cfg, seed: int = 0) -> pd.DataFrame:
    """Entities from 2013-01-01 to END (New York) with the configured columns, ``as_of`` by the
    config's cutoff rule and ``label_known_at`` 0 to 15 minutes after the timestamp; about 2% of
    labels never arrive (null label and ``label_known_at``)."""
    ds, rule = cfg.dataset, cfg.cutoff_rule
    rng = np.random.default_rng(seed)
    days = pd.date_range("2013-01-01", END.date(), inclusive="left", tz=NY)
    stamps = pd.DatetimeIndex(np.repeat(days, ROWS_PER_DAY)) + pd.to_timedelta(
        rng.integers(0, 24 * 60, len(days) * ROWS_PER_DAY), unit="min"
    )
    stamps = stamps.tz_convert("UTC").as_unit("us")
    n = len(stamps)
    frame = pd.DataFrame({ds.key[0]: np.arange(n, dtype="int64"), ds.timestamp: stamps})
    lead, horizon, origin = pd.Timedelta(rule.lead), pd.Timedelta(rule.horizon), pd.Timestamp(rule.origin)
    frame["as_of"] = origin + ((stamps - lead - origin) // horizon) * horizon
    for name in ds.numeric_features:
        frame[name] = rng.normal(0, 1, n)
    for name in ds.categorical_features:
        frame[name] = pd.Categorical(rng.choice(["A", "B", "C"], n), categories=["A", "B", "C"])
    signal = frame[ds.numeric_features[0]] * np.where(stamps >= FLIP, -2.0, 2.0)
    label = (rng.random(n) < 1 / (1 + np.exp(-signal))).astype("int64")
    missing = rng.random(n) < 0.02
    frame[ds.label] = pd.array(np.where(missing, None, label), dtype="Int64")
    known = stamps + pd.to_timedelta(rng.integers(0, 16, n), unit="min")
    frame[ds.label_known_at] = known.where(~missing, pd.NaT)
    return frame


@pytest.fixture(scope="module")
def table(cfg) -> pd.DataFrame:
    return synthetic_table(cfg)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One OpenMP/BLAS thread, as the CLI uses by default."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def fits(table, cfg):
    """The replay's result, and the cutoff of every fit it made (train_model wrapped to record them)."""
    made = []
    original = retraining.train_model

    def recording(train, model, dataset):
        made.append(train[dataset.timestamp].max())
        return original(train, model, dataset)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(retraining, "train_model", recording)
        result = replay(table, cfg, START, END)
    return result, made


@pytest.fixture(scope="module")
def result(fits):
    return fits[0]


def events(result, policy: str) -> pd.DataFrame:
    return result.events[result.events["policy"] == policy]


def local_days(first: dt.datetime, last: dt.datetime) -> list[dt.datetime]:
    return [dt.datetime.combine(d, dt.time(), NY) for d in pd.date_range(first.date(), last.date()).date]


def test_scheduled_policies_retrain_on_their_ticks_only(result):
    after_start = local_days(START + dt.timedelta(days=1), END - dt.timedelta(days=1))
    sundays = [d for d in after_start if d.weekday() == 6]
    assert [d.date() for d in sundays] == [dt.date(2013, 3, d) for d in (3, 10, 17, 24, 31)]
    for weekly in ("weekly", "weekly_improvement"):
        assert list(events(result, weekly)["cutoff"]) == sundays
    assert list(events(result, "monthly")["cutoff"]) == [dt.datetime(2013, 4, 1, tzinfo=NY)]
    assert events(result, "never").empty
    summary = result.summary.set_index("policy")
    assert list(result.summary["policy"]) == list(POLICIES)
    assert summary.loc["weekly", "retrains"] == 5 and summary.loc["never", "retrains"] == 0
    # the same challengers, each gated by its own rule
    assert list(events(result, "weekly")["challenger"]) == list(events(result, "weekly_improvement")["challenger"])
    assert events(result, "weekly_improvement")["gate_reason"].str.contains("required > 0").all()


def test_fits_are_shared_across_policies(fits):
    result, made = fits
    cutoffs = {START} | set(result.events["cutoff"])
    assert len(made) == len(cutoffs) == result.timings["unique_fits"]
    # one fit per cutoff: each fit's newest training row lies before the holdout of a distinct cutoff
    assert len(set(made)) == len(made)
    for _, group in result.events.groupby("cutoff"):
        assert group["fit_seconds"].nunique() == 1
    summary = result.summary.set_index("policy")
    assert summary.loc["weekly", "train_seconds"] == pytest.approx(summary.loc["weekly_improvement", "train_seconds"])


def test_every_prediction_is_made_at_its_cutoff_by_the_champion_of_that_time(cfg, result):
    p = result.predictions
    lead = pd.Timedelta(cfg.cutoff_rule.lead)
    assert (p["as_of"] <= p[cfg.dataset.timestamp] - lead).all()
    assert (p["as_of"] > p[cfg.dataset.timestamp] - lead - pd.Timedelta(hours=1)).all()
    assert (p["model_cutoff"] <= p["as_of"]).all()
    assert (p["as_of"] >= START).all() and (p["as_of"] < END).all()
    for policy in POLICIES:
        mine = p[p["policy"] == policy]
        promoted = events(result, policy)
        changes = pd.DatetimeIndex(sorted([START, *promoted.loc[promoted["promoted"], "cutoff"]])).tz_convert("UTC")
        expected = changes[changes.searchsorted(pd.DatetimeIndex(mine["as_of"]), side="right") - 1]
        assert (mine["model_cutoff"].to_numpy() == expected.to_numpy()).all(), policy
        assert len(mine) == p["policy"].eq("never").sum()  # every policy scores every entity once


def test_no_label_is_used_before_it_was_known(cfg, table):
    """Labels of the three days before a retrain cutoff R are known only after R in this table: flipping
    them changes nothing up to R, and the challenger's holdout is four days of labels, not seven."""
    ds = cfg.dataset
    retrain = dt.datetime(2013, 3, 10, tzinfo=NY)
    late = (table[ds.timestamp] >= retrain - dt.timedelta(days=3)) & (table[ds.timestamp] < retrain)
    late = late & table[ds.label].notna()
    clean = table.copy()
    clean.loc[late, ds.label_known_at] = pd.Timestamp(retrain) + pd.Timedelta(hours=1)
    poisoned = clean.copy()
    poisoned.loc[late, ds.label] = 1 - poisoned.loc[late, ds.label]
    stop = retrain + dt.timedelta(days=1)
    a, b = (replay(t, cfg, START, stop, ["weekly", "monitor"]) for t in (clean, poisoned))
    pd.testing.assert_frame_equal(a.predictions.drop(columns=ds.label), b.predictions.drop(columns=ds.label))
    pd.testing.assert_frame_equal(a.decisions, b.decisions)
    pd.testing.assert_frame_equal(a.events.drop(columns="fit_seconds"), b.events.drop(columns="fit_seconds"))

    def at_r(result):
        return result.events[(result.events["cutoff"] == retrain) & (result.events["policy"] == "weekly")].iloc[0]

    ts = clean[ds.timestamp]
    known = clean[(ts >= retrain - dt.timedelta(days=7)) & (ts < retrain) & clean[ds.label].notna() & ~late]
    assert at_r(a)["holdout_rows"] == len(known) < ((ts >= retrain - dt.timedelta(days=7)) & (ts < retrain)).sum()
    # the check can fail: had the flipped labels been known, the retrain at R would have used them
    leaky = replay(poisoned.assign(**{ds.label_known_at: poisoned[ds.timestamp]}), cfg, START, stop, ["weekly"])
    assert at_r(leaky)["holdout_rows"] > at_r(a)["holdout_rows"]
    assert at_r(leaky)["challenger_holdout"] != pytest.approx(at_r(a)["challenger_holdout"], abs=0.01)


def test_monitor_decides_on_the_evidence_it_had_and_follows_its_rule(cfg, table, result):
    ds = cfg.dataset
    decisions = result.decisions
    assert [d for d in decisions["day"]] == [d.date() for d in local_days(START + dt.timedelta(days=1), END)][:-1]
    assert list(events(result, "monitor")["cutoff"].map(lambda t: t.date())) == list(
        decisions.loc[decisions["retrain"], "day"]
    )
    triggered = list(decisions.loc[decisions["retrain"], "day"])
    assert any(FLIP.date() < d <= FLIP.date() + dt.timedelta(days=7) for d in triggered)  # it noticed the flip
    cooldown = dt.timedelta(days=cfg.monitoring.cooldown_days)
    assert all(later - earlier >= cooldown for earlier, later in zip(triggered, triggered[1:], strict=False))
    assert decisions["suppressed"].any()
    # the realized metric is recomputed from the monitor policy's own predictions with labels known by the day
    mine = result.predictions[result.predictions["policy"] == "monitor"].merge(
        table[[*ds.key, ds.label_known_at]], on=ds.key
    )
    for row in decisions.iloc[::5].itertuples():
        day = dt.datetime.combine(row.day, dt.time(), NY)
        window = mine[
            (mine[ds.timestamp] >= day - dt.timedelta(days=7))  # calendar days (local midnight to local midnight)
            & (mine[ds.timestamp] < day)
            & (mine[ds.label_known_at] <= day)
            & mine[ds.label].notna()
        ]
        assert row.labelled_rows == len(window)
        assert row.realized == pytest.approx(roc_auc_score(window[ds.label].astype(int), window["score"]))
    # the rule: below the champion's own holdout by the margin with enough rows, or too old
    rule = cfg.monitoring.trigger
    for row in decisions.itertuples():
        low = row.labelled_rows >= rule.min_labelled_rows and row.realized < row.champion_holdout - rule.margin
        old = row.day - dt.date.fromisoformat(row.champion) > dt.timedelta(days=rule.max_age_days)
        assert (row.retrain or row.suppressed) == (low or old), row


def test_daily_auc_and_cbpe_estimate(cfg, result):
    label = cfg.dataset.label
    p = result.predictions[result.predictions[label].notna()]
    daily = result.daily.set_index(["policy", "day"])
    for (policy, day), group in list(p.groupby(["policy", "day"]))[::17]:
        assert daily.loc[(policy, day), "roc_auc"] == pytest.approx(
            roc_auc_score(group[label].astype(int), group["score"])
        )
    summary = result.summary.set_index("policy")
    for policy in POLICIES:
        mine = p[p["policy"] == policy]
        assert summary.loc[policy, "pooled_roc_auc"] == pytest.approx(
            roc_auc_score(mine[label].astype(int), mine["score"])
        )
        assert summary.loc[policy, "mean_daily_roc_auc"] == pytest.approx(daily.loc[policy, "roc_auc"].mean())
    estimated = result.daily.set_index("policy")["estimated_roc_auc"]
    assert estimated.loc["monitor"].notna().all() and estimated.drop("monitor").isna().all()
    # while the first model's holdout still describes the data (before FLIP), the estimate tracks the realized AUC
    before = result.daily[(result.daily["policy"] == "monitor") & (result.daily["day"] < FLIP.date())]
    assert len(before) == 11 and (before["estimated_roc_auc"] - before["roc_auc"]).abs().mean() < 0.05


def test_results_json_and_report_are_written(cfg, result, tmp_path):
    report = save(result, tmp_path, describe(cfg, START, END, POLICIES, 0) | {"code_version": "test"})
    assert report == tmp_path / "report.html"
    html = report.read_text()
    names = ["auc_over_time.png", "auc_per_month.png", "retrain_events.png", "estimated_vs_realized.png",
             "monitor_decisions.png"]  # fmt: skip
    assert html.count('src="data:image/png;base64,') == len(names)
    for name in names:
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), name
    doc = json.loads((tmp_path / "results.json").read_text())
    assert [row["policy"] for row in doc["summary"]] == list(POLICIES)
    for row in doc["summary"]:
        assert {"policy", "retrains", "train_seconds", "pooled_roc_auc", "mean_daily_roc_auc"} <= set(row)
    assert len(doc["events"]) == len(result.events) and len(doc["decisions"]) == len(result.decisions)
    assert {"cutoff", "promoted", "gate_reason", "gate", "reasons"} <= set(doc["events"][0])
    assert doc["table"] == markdown_table(result)


def test_bad_arguments_are_refused(cfg, table):
    with pytest.raises(ValueError, match="policies"):
        replay(table, cfg, START, END, ["hourly"])
    with pytest.raises(ValueError, match="midnights"):
        replay(table, cfg, START + dt.timedelta(hours=1), END)
    with pytest.raises(ValueError, match="midnights"):
        replay(table, cfg, START.replace(tzinfo=dt.UTC), END)
    with pytest.raises(ValueError, match="not before"):
        replay(table, cfg, END, START)
    with pytest.raises(ValueError, match="not their cutoff"):
        replay(table.assign(as_of=table["as_of"] + pd.Timedelta(hours=1)), cfg, START, END)


def test_cli_replays_real_data_from_the_warehouse(seeded_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", seeded_url)
    args = ["study", "--out", str(tmp_path), "--start", "2013-03-01", "--end", "2013-03-05", "--max-iter", "5"]
    assert main(args) == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert table[0].startswith("| policy | retrains") and [row.split(" | ")[0] for row in table[2:]] == [
        f"| {p}" for p in POLICIES
    ]
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["meta"]["model"]["params"]["max_iter"] == 5
    assert {row["policy"]: row["retrains"] for row in doc["summary"]}["weekly"] == 1  # Sunday 2013-03-03
    assert (tmp_path / "report.html").is_file()


def test_seed_leaves_planner_statistics(empty_url):
    """The study extracts the whole year right after ``make seed``: without statistics the feature
    query is planned on empty-table estimates (nested loops) and took over 10 minutes for the
    point-in-time flight features, against 132 s once analyzed, in runs on the shared machine."""
    seed(Warehouse(empty_url))
    with psycopg2.connect(empty_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = 'nycflights13' AND last_analyze IS NULL"
        )
        assert cur.fetchall() == []
        cur.execute("SELECT count(*) FROM pg_stats WHERE schemaname = 'nycflights13' AND tablename = 'flights'")
        assert cur.fetchone()[0] > 0
