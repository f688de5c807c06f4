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
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.data.seed import seed
from pipeline.data.warehouse import Warehouse
from pipeline.experiments import retraining
from pipeline.experiments.out_of_sample import equal_cost_days, out_of_sample
from pipeline.experiments.retraining import (
    BOOTSTRAP_SEED,
    POLICIES,
    ReplayTable,
    calendar_policy,
    describe,
    markdown_table,
    replay,
    save,
)
from pipeline.models import promotion

NY = ZoneInfo("America/New_York")
START = dt.datetime(2013, 3, 1, tzinfo=NY)
END = dt.datetime(2013, 4, 6, tzinfo=NY)
FLIP = dt.datetime(2013, 3, 12, tzinfo=NY)
SPLIT = dt.datetime(2013, 3, 15, tzinfo=NY)  # out of sample: select on [START, SPLIT), report on [SPLIT, END)
SMALL_GRID = {"margin": (0.01, 0.05), "max_age_days": (5, None)}
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
def replay_table(table, cfg) -> ReplayTable:
    """The table as the study holds it: one set of fits for every replay of it (the full replay's first)."""
    return ReplayTable(table, cfg)


@pytest.fixture(scope="module")
def fits(replay_table, cfg):
    """The replay's result, and the cutoff of every fit it made (train_model wrapped to record them)."""
    made = []
    original = retraining.train_model

    def recording(train, model, dataset):
        made.append(train[dataset.timestamp].max())
        return original(train, model, dataset)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(retraining, "train_model", recording)
        result = replay(replay_table, cfg, START, END)
    return result, made


@pytest.fixture(scope="module")
def result(fits):
    return fits[0]


@pytest.fixture(scope="module")
def oos(fits, replay_table, cfg):
    """The out-of-sample part on the same table after the full replay (so it can reuse its fits), with a
    small grid; the selection span holds FLIP, so the grid's points differ."""
    return out_of_sample(replay_table, cfg, START, SPLIT, END, grid=SMALL_GRID)


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


def test_results_json_and_report_are_written(cfg, result, oos, tmp_path):
    meta = describe(cfg, START, END, POLICIES, 0, SPLIT, SMALL_GRID) | {"code_version": "test"}
    report = save(result, tmp_path, meta, oos)
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
    # out of sample: the report span's table, the selection grid, the spans
    records = {row["policy"]: row for row in doc["out_of_sample"]}
    assert list(records)[:4] == ["weekly", "monthly", "monitor_selected", "monitor_bootstrap"]
    assert list(records)[4:] and all(p.startswith("every_") for p in list(records)[4:])  # the calendars
    for policy, row in records.items():
        assert {"policy", "retrains", "promotions", "pooled_roc_auc", "mean_daily_roc_auc"} <= set(row), policy
        mine = oos.report.predictions[oos.report.predictions["policy"] == policy].dropna(subset=[cfg.dataset.label])
        assert row["pooled_roc_auc"] == pytest.approx(roc_auc_score(mine[cfg.dataset.label].astype(int), mine["score"]))
        assert row["retrains"] == (oos.report.events["policy"] == policy).sum()
    assert records["monitor_bootstrap"]["bootstrap_margin"] and records["monitor_bootstrap"]["margin"] is None
    assert doc["out_of_sample_table"] == markdown_table(oos.report)
    assert [row["chosen"] for row in doc["selection"]].count(True) == 1 and len(doc["selection"]) == 4
    assert doc["meta"]["report_span"] == [SPLIT.date().isoformat(), END.date().isoformat()]
    assert doc["meta"]["selection_span"] == [START.date().isoformat(), SPLIT.date().isoformat()]
    assert "<h2>Out of sample</h2>" in html and html.count("<td>chosen</td>") == 1
    assert all(f"<th>{row['label']}</th>" in html for row in doc["out_of_sample"])


def test_selection_chooses_the_grid_point_with_the_best_pooled_auc_on_the_selection_span(cfg, oos):
    label = cfg.dataset.label
    p = oos.selection.predictions
    assert (p["as_of"] >= START).all() and (p["as_of"] < SPLIT).all()
    grid = oos.grid.set_index("policy")
    assert len(grid) == len(SMALL_GRID["margin"]) * len(SMALL_GRID["max_age_days"])
    pooled = {}
    for policy, mine in p[p[label].notna()].groupby("policy"):
        pooled[policy] = roc_auc_score(mine[label].astype(int), mine["score"])
        assert grid.loc[policy, "pooled_roc_auc"] == pytest.approx(pooled[policy])
        assert grid.loc[policy, "retrains"] == (oos.selection.events["policy"] == policy).sum()
    # the best pooled AUC; on a tie (to 1e-12), the fewer retrains; then the first in the grid's order
    best = max(grid.index, key=lambda name: (round(pooled[name], 12), -grid.loc[name, "retrains"]))
    assert list(grid.index[grid["chosen"]]) == [best]
    assert grid["pooled_roc_auc"].nunique() > 1  # the grid's points differ, so the choice means something
    # the report span's monitor_selected is the chosen point; the bootstrap variant keeps the configured age
    table = oos.table.set_index("policy")
    assert table.loc["monitor_selected", "margin"] == grid.loc[best, "margin"]
    assert table.loc["monitor_selected", "max_age_days"] == grid.loc[best, "max_age_days"]
    assert table.loc["monitor_bootstrap", "max_age_days"] == cfg.monitoring.trigger.max_age_days
    assert (oos.report.predictions["as_of"] >= SPLIT).all()
    assert (oos.report.predictions["model_cutoff"] >= SPLIT).all()  # every policy starts from the model as of SPLIT


def test_calendars_of_equal_cost_retrain_as_often_as_their_monitor_policy(oos):
    days = local_days(SPLIT, END - dt.timedelta(days=1))
    table = oos.table.set_index("policy")
    calendars = table[table["every_days"].notna()]
    assert sorted(name for names in calendars["equal_cost_to"] for name in names) == sorted(
        ["monitor_selected", "monitor_bootstrap"]
    )
    assert table.loc[["monitor_selected", "monitor_bootstrap"], "retrains"].max() > 0  # a cost to match

    def count(n: int) -> int:  # retrains of "every n days" on the report span, day by day
        return sum((day.date() - SPLIT.date()).days % n == 0 for day in days[1:])

    for policy, row in calendars.iterrows():
        assert row["retrains"] == count(row["every_days"]) == (oos.report.events["policy"] == policy).sum()
        for monitor in row["equal_cost_to"]:
            target = table.loc[monitor, "retrains"]
            gaps = {n: abs(count(n) - target) for n in range(1, len(days) + 1)}
            assert gaps[row["every_days"]] == min(gaps.values())
            assert row["every_days"] == min(n for n, gap in gaps.items() if gap == min(gaps.values()))


@pytest.mark.parametrize("days", [1, 2, 30, 153])
def test_equal_cost_days_is_the_closest_count(days):
    for retrains in range(days + 1):
        counts = {n: sum(i % n == 0 for i in range(1, days)) for n in range(1, days + 1)}
        n = equal_cost_days(retrains, days)
        closest = min(abs(c - retrains) for c in counts.values())
        assert abs(counts[n] - retrains) == closest
        # the tie-break: of the N that come as close, the smallest (the higher count, the retrains most spread)
        assert n == min(k for k, c in counts.items() if abs(c - retrains) == closest)
    with pytest.raises(ValueError):
        equal_cost_days(-1, days)


def test_every_n_days_retrains_from_the_span_start(cfg, replay_table):
    stop = dt.datetime(2013, 3, 20, tzinfo=NY)  # across the change to daylight saving time (2013-03-10)
    result = replay(replay_table, cfg, START, stop, [calendar_policy(4)])
    assert list(result.events["cutoff"]) == [dt.datetime(2013, 3, d, tzinfo=NY) for d in (5, 9, 13, 17)]
    assert list(result.events["policy"]) == ["every_4_days"] * 4


def test_bootstrap_margin_is_the_champion_holdouts_percentile_interval_at_the_window_size(cfg, oos, replay_table):
    decisions = oos.report.decisions
    mine = decisions[(decisions["policy"] == "monitor_bootstrap")]
    few = mine["labelled_rows"] < cfg.monitoring.trigger.min_labelled_rows
    assert mine["margin"].notna().any() and mine.loc[few, "margin"].isna().all()
    row = mine[mine["margin"].notna()].iloc[0]  # the first: its window is smaller than the holdout
    champion = next(m for m in replay_table.models.values() if m.name == row["champion"])
    y, scores, m = champion.y_holdout, champion.holdout_scores, int(row["labelled_rows"])
    assert m < y.size
    resamples, confidence = cfg.promotion.bootstrap_samples, cfg.promotion.confidence
    assert resamples * max(y.size, m) <= promotion.CELLS_PER_CHUNK  # drawn in one piece: the draws below are the same
    rows = np.random.default_rng(BOOTSTRAP_SEED).integers(0, y.size, (resamples, m))
    # each resample's ROC AUC by the rank-sum (Mann-Whitney) formula, average ranks for ties
    ranks, positive = rankdata(scores[rows], axis=1), y[rows] == 1
    n1, n0 = positive.sum(axis=1), (~positive).sum(axis=1)
    aucs = ((ranks * positive).sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)
    assert (n1 > 0).all() and (n0 > 0).all()
    expected = roc_auc_score(y, scores) - np.percentile(aucs, 50 * (1 - confidence))
    assert row["margin"] == pytest.approx(expected, rel=1e-9)
    assert row["margin"] != pytest.approx(cfg.monitoring.trigger.margin, abs=1e-4)
    # and the decisions follow the rule with that margin
    for d in mine[mine["margin"].notna()].itertuples():
        fired = d.realized is not None and d.realized < d.champion_holdout - d.margin
        assert fired == any(reason.startswith("performance") for reason in d.reasons), d


def test_out_of_sample_reuses_the_full_replays_fits(result, oos):
    full = {START, *result.events["cutoff"]}
    later = {SPLIT, *oos.selection.events["cutoff"], *oos.report.events["cutoff"]}
    assert oos.timings["new_fits"] == len(later - full)
    assert later & full  # some were reused


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
    with pytest.raises(ValueError, match="strictly between"):
        out_of_sample(ReplayTable(table, cfg), cfg, START, END, END)


def test_cli_replays_real_data_from_the_warehouse(seeded_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", seeded_url)
    args = ["study", "--out", str(tmp_path), "--start", "2013-03-01", "--end", "2013-03-05", "--max-iter", "5"]
    assert main([*args, "--split", "2013-03-03"]) == 0
    full, out_of_sample = (t.splitlines() for t in capsys.readouterr().out.strip().split("\n\n"))
    assert full[0].startswith("| policy | retrains") and [row.split(" | ")[0] for row in full[2:]] == [
        f"| {p}" for p in POLICIES
    ]
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["meta"]["model"]["params"]["max_iter"] == 5
    assert {row["policy"]: row["retrains"] for row in doc["summary"]}["weekly"] == 1  # Sunday 2013-03-03
    assert (tmp_path / "report.html").is_file()
    # out of sample: chosen on March 1 and 2, reported on March 3 and 4
    assert doc["meta"]["split"] == "2013-03-03" and len(doc["selection"]) == 16
    assert [row["label"] for row in doc["out_of_sample"]] == [row.split(" | ")[0][2:] for row in out_of_sample[2:]]
    assert [row["policy"] for row in doc["out_of_sample"]][:4] == [
        "weekly",
        "monthly",
        "monitor_selected",
        "monitor_bootstrap",
    ]
    assert main([*args, "--split", "2013-03-05"]) == 2  # not inside the span: refused before the extraction


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
