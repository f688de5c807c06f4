"""The retraining-interval study: policies retrain when they should, the drift policy follows the
monitor's rule and its cooldown, the AUCs are the predictions' real AUCs, and the report is written.

Most tests replay a small synthetic feature table shaped like the real one (same columns and dtypes),
whose weather features jump by several standard deviations from SHIFT on; one runs the CLI on a few
days of the real seeded data.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.experiments.retraining import POLICIES, describe, markdown_table, replay, save
from pipeline.models.train import TimeSplit, predict, split_by_time, train_model

START = dt.datetime(2013, 3, 1, tzinfo=dt.UTC)
END = dt.datetime(2013, 4, 10, tzinfo=dt.UTC)
SHIFT = dt.datetime(2013, 3, 18, tzinfo=dt.UTC)
WEATHER = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib"]
ROWS_PER_DAY = 60


@pytest.fixture(scope="module")
def cfg():
    # The synthetic weather shift is a drift test: the drift triggers are switched on (off by default).
    drift_on = {"trigger": {"feature_drift": True, "prediction_drift": True}}
    return load_config("flight_delay", model={"params": {"max_iter": 10}}, monitoring=drift_on)


def synthetic_table(cfg, seed: int = 0) -> pd.DataFrame:
    """Flights from 2013-01-01 to END with the real table's columns and dtypes; the label depends on
    the hour, the precipitation anomaly and the carrier; about 2% of labels are missing (cancelled flights)."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2013-01-01", END.date(), inclusive="left", tz="UTC")
    stamps = pd.DatetimeIndex(np.repeat(days, ROWS_PER_DAY)) + pd.to_timedelta(
        rng.integers(0, 24 * 60, len(days) * ROWS_PER_DAY), unit="min"
    )
    n = len(stamps)
    frame = pd.DataFrame({"flight_id": np.arange(n, dtype="int64"), "scheduled_departure": stamps.as_unit("us")})
    frame["month"] = stamps.month.astype("int64")
    frame["day_of_week"] = (stamps.day_of_week + 1).astype("int64")
    frame["sched_dep_hour"] = stamps.hour.astype("int64")
    for name in ["distance", *WEATHER, "plane_age", "seats", "engines"]:
        frame[name] = rng.normal(10, 2, n)
    shifted = stamps >= SHIFT
    frame.loc[shifted, WEATHER] += 8.0
    for name, levels in {
        "carrier": ["AA", "B6", "DL", "UA"],
        "origin": ["EWR", "JFK", "LGA"],
        "dest": ["ATL", "BOS"],
    }.items():
        frame[name] = pd.Categorical(rng.choice(levels, n), categories=levels)
    precip_anomaly = frame["precip"] - np.where(shifted, 18, 10)  # the label's base rate does not move
    logit = 0.3 * (frame["sched_dep_hour"] - 12) + 0.8 * precip_anomaly + (frame["carrier"] == "UA") * 1.5
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")
    frame[cfg.dataset.label] = pd.array(np.where(rng.random(n) < 0.02, None, label), dtype="Int64")
    assert list(frame.columns) == [*cfg.dataset.key, cfg.dataset.timestamp, *cfg.dataset.features, cfg.dataset.label]
    return frame


@pytest.fixture(scope="module")
def table(cfg) -> pd.DataFrame:
    return synthetic_table(cfg)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One OpenMP/BLAS thread, as the CLI uses by default: on small fits, threads waiting for each
    other on a busy machine make scikit-learn several times slower."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def result(cfg, table):
    return replay(table, cfg, START, END)


def days(result, policy: str) -> list[dt.date]:
    return list(result.retrains.loc[result.retrains["policy"] == policy, "day"])


def test_never_retrains_after_the_first_model(result):
    assert days(result, "never") == []
    never = result.predictions[result.predictions["policy"] == "never"]
    assert set(never["model"]) == {"2013-03-01"}


def test_weekly_retrains_every_monday_and_monthly_on_every_first(result):
    all_days = pd.date_range(START.date() + dt.timedelta(days=1), END.date(), inclusive="left").date
    assert days(result, "weekly") == [d for d in all_days if d.weekday() == 0]
    assert days(result, "weekly") == [dt.date(2013, 3, d) for d in (4, 11, 18, 25)] + [
        dt.date(2013, 4, d) for d in (1, 8)
    ]
    assert days(result, "monthly") == [dt.date(2013, 4, 1)]
    summary = result.summary.set_index("policy")
    assert summary.loc["weekly", "retrains"] == 6 and summary.loc["monthly", "retrains"] == 1
    assert list(result.summary["policy"]) == list(POLICIES)


def test_each_day_is_scored_by_the_policy_s_latest_model(result):
    for policy in POLICIES:
        made = result.predictions[result.predictions["policy"] == policy].groupby("day")["model"].unique()
        retrained = sorted(days(result, policy))
        for day, models in made.items():
            expected = max([START.date(), *[d for d in retrained if d <= day]])
            assert list(models) == [expected.isoformat()], (policy, day)


def test_drift_policy_triggers_on_the_shift_and_respects_the_cooldown(cfg, result):
    drift = result.drift
    cooldown = dt.timedelta(days=cfg.monitoring.cooldown_days)
    # one monitor decision per day after the first model, and a retrain exactly when it said so
    assert list(drift["day"]) == list(
        pd.date_range(START.date() + dt.timedelta(days=1), END.date(), inclusive="left").date
    )
    assert days(result, "drift") == list(drift.loc[drift["retrain"], "day"])
    triggered = days(result, "drift")
    assert len(triggered) >= 2
    assert all(later - earlier >= cooldown for earlier, later in zip(triggered, triggered[1:], strict=False))
    # every retrain records why; the shifted weather features are one of the reasons once the shift is in the window
    retrains = result.retrains[result.retrains["policy"] == "drift"]
    assert all(len(r) > 0 for r in retrains["reasons"])
    after_shift = retrains[retrains["day"] > SHIFT.date()]
    assert len(after_shift) >= 2 and all(
        any(r.startswith("feature drift") for r in rs) for rs in after_shift["reasons"]
    )
    # the cooldown was exercised: thresholds crossed, retrain suppressed, never within cooldown of a trigger
    suppressed = drift[drift["suppressed"]]
    assert len(suppressed) > 0 and all(len(r) > 0 for r in suppressed["reasons"])
    for day in suppressed["day"]:
        assert any(dt.timedelta(0) < day - t < cooldown for t in triggered)
    # weather is 9 of the 17 voting features: all drift once the window is past the shift
    late = drift[drift["day"] >= (SHIFT + dt.timedelta(days=cfg.monitoring.window_days)).date()]
    assert (late["drifted_features"] >= len(WEATHER)).all()


def test_daily_auc_is_the_roc_auc_of_that_day_s_predictions(cfg, result):
    label = cfg.dataset.label
    labelled = result.predictions[result.predictions[label].notna()]
    expected = labelled.groupby(["policy", "day"]).apply(
        lambda g: roc_auc_score(g[label].astype(int), g["score"]), include_groups=False
    )
    daily = result.daily.set_index(["policy", "day"])["roc_auc"]
    assert len(daily) == len(expected) == len(POLICIES) * (END - START).days
    pd.testing.assert_series_equal(daily.sort_index(), expected.sort_index(), check_names=False)
    for policy in POLICIES:
        mine = daily.loc[policy]
        assert result.summary.set_index("policy").loc[policy, "mean_daily_auc"] == pytest.approx(mine.mean())
    month = labelled[(labelled["policy"] == "weekly") & (pd.to_datetime(labelled["day"]).dt.month == 3)]
    monthly = result.monthly.set_index(["policy", "month"])["roc_auc"]
    assert monthly.loc[("weekly", "2013-03")] == pytest.approx(roc_auc_score(month[label].astype(int), month["score"]))


def test_predictions_are_those_of_an_independently_trained_model(cfg, table, result):
    ds = cfg.dataset
    for policy, day, trained_as_of in [
        ("never", dt.date(2013, 4, 9), START),
        ("weekly", dt.date(2013, 3, 13), dt.datetime(2013, 3, 11, tzinfo=dt.UTC)),
    ]:
        train, _ = split_by_time(table, TimeSplit.ending_at(trained_as_of, cfg.training), ds, "binary_classification")
        model = train_model(train, cfg.model, ds)
        stamps = table[ds.timestamp]
        rows = table[
            (stamps >= pd.Timestamp(day, tz="UTC")) & (stamps < pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1))
        ]
        made = result.predictions[(result.predictions["policy"] == policy) & (result.predictions["day"] == day)]
        expected = pd.Series(predict(model, rows, ds, "binary_classification"), index=rows[ds.key[0]]).sort_index()
        assert len(rows) > 0
        pd.testing.assert_series_equal(made.set_index(ds.key[0])["score"].sort_index(), expected, check_names=False)


def test_report_and_results_are_written(cfg, result, tmp_path):
    report = save(result, tmp_path, describe(cfg, START, END, POLICIES, 0) | {"code_version": "test"})
    html = report.read_text()
    assert report == tmp_path / "report.html"
    assert html.count('src="data:image/png;base64,') == 4
    for name in ("auc_over_time.png", "auc_per_month.png", "drift_over_time.png", "retrain_events.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), name
    doc = json.loads((tmp_path / "results.json").read_text())
    assert [row["policy"] for row in doc["summary"]] == list(POLICIES)
    assert doc["table"] == markdown_table(result)
    assert len(doc["drift"]) == len(result.drift) and len(doc["retrains"]) == len(result.retrains)
    table = markdown_table(result).splitlines()
    assert len(table) == 2 + len(POLICIES) and "| 2013-03 | 2013-04 |" in table[0]


def test_bad_arguments_are_refused(cfg, table):
    with pytest.raises(ValueError, match="policies"):
        replay(table, cfg, START, END, ["hourly"])
    with pytest.raises(ValueError, match="midnights"):
        replay(table, cfg, START + dt.timedelta(hours=1), END)
    with pytest.raises(ValueError, match="not before"):
        replay(table, cfg, END, START)


def test_cli_replays_real_data_from_the_warehouse(seeded_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", seeded_url)
    code = main(["study", "--out", str(tmp_path), "--start", "2013-03-01", "--end", "2013-03-05", "--max-iter", "5"])
    assert code == 0
    table = capsys.readouterr().out.strip().splitlines()
    assert table[0].startswith("| policy | retrains |") and [row.split(" | ")[0] for row in table[2:]] == [
        f"| {p}" for p in POLICIES
    ]
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["meta"]["model"]["params"]["max_iter"] == 5
    assert {row["policy"]: row["retrains"] for row in doc["summary"]}["weekly"] == 1  # Monday 2013-03-04
    assert (tmp_path / "report.html").is_file()
