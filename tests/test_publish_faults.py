"""Publish faults that must stay fixed: the warehouse a run reaches is the local cluster started;
overlapping or misaligned intervals never duplicate predictions; two simultaneous CLI predicts of one
interval both finish, one after the other; a rerun with another partitioning is not blocked by a killed
attempt's staging; empty hash partitions are skipped and row-count bounds apply to the interval."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.data import local_pg
from pipeline.data.predictions import publish_lock_key
from pipeline.features.build import CutoffMismatchError, count_entities
from pipeline.stages import RunContext, Runtime, predict
from pipeline.stages.runtime import open_warehouse
from pipeline.validation import ValidationFailedError

UTC = dt.UTC
DAY = dt.timedelta(days=1)
APRIL_1 = dt.datetime(2013, 4, 1, tzinfo=UTC)
PREDICTIONS = "ml.flight_delay_predictions"


def run_predict(cfg, run_id: str, start: dt.datetime, end: dt.datetime) -> dict:
    return predict.run(Runtime(cfg, RunContext("predict__flight_delay", run_id, start, end)))


def query(cfg, text: str, params: dict | None = None) -> list[tuple]:
    with open_warehouse(cfg).transaction() as cur:
        cur.execute(text, params)
        return cur.fetchall()


def duplicates(cfg) -> int:
    """Rows beyond the first per (key, model version, is_champion)."""
    return query(
        cfg,
        f"SELECT count(*) - count(DISTINCT (flight_id, model_version, is_champion)) FROM {PREDICTIONS}",
    )[0][0]


def staged(cfg) -> int:
    return query(cfg, f"SELECT count(*) FROM {PREDICTIONS}_staging")[0][0]


def entities(cfg, start: dt.datetime, end: dt.datetime) -> int:
    return count_entities(open_warehouse(cfg), cfg.dataset, cfg.cutoff_rule, start, end)


# --- overlapping intervals ------------------------------------------------------------------------


@pytest.mark.usefixtures("daily_utc")
def test_overlapping_and_misaligned_intervals_leave_one_row_per_entity_and_version(april_champion):
    cfg = april_champion
    for day in range(3):  # the daily runs cut off at 04-01, 04-02, 04-03: they score those days
        run_predict(cfg, f"scheduled__{day}", APRIL_1 + (day - 1) * DAY, APRIL_1 + day * DAY)
    total = entities(cfg, APRIL_1, APRIL_1 + 3 * DAY)
    assert query(cfg, f"SELECT count(*) FROM {PREDICTIONS}")[0][0] == total and duplicates(cfg) == 0

    # A 2-day interval cut off at 04-03 scores what the daily run cut off there did: it replaces its rows.
    two_days = run_predict(cfg, "cli__two_days", APRIL_1, APRIL_1 + 2 * DAY)
    assert two_days["rows"] == entities(cfg, APRIL_1 + 2 * DAY, APRIL_1 + 3 * DAY) > 0
    # An hour inside a day is cut off off a tick of the daily schedule: refused, nothing published.
    hour = (APRIL_1 + DAY + dt.timedelta(hours=10), APRIL_1 + DAY + dt.timedelta(hours=11))
    with pytest.raises(CutoffMismatchError):
        run_predict(cfg, "cli__hour", *hour)

    assert duplicates(cfg) == 0
    assert query(cfg, f"SELECT count(*) FROM {PREDICTIONS}")[0][0] == total  # one row per entity, none lost
    by_run = dict(query(cfg, f"SELECT run_id, count(*) FROM {PREDICTIONS} GROUP BY run_id"))
    assert by_run == {
        "scheduled__0": entities(cfg, APRIL_1, APRIL_1 + DAY),
        "scheduled__1": entities(cfg, APRIL_1 + DAY, APRIL_1 + 2 * DAY),
        "cli__two_days": two_days["rows"],
    }
    assert staged(cfg) == 0
    run_predict(cfg, "scheduled__2_again", APRIL_1 + DAY, APRIL_1 + 2 * DAY)  # 04-03 again, over both
    assert duplicates(cfg) == 0 and query(cfg, f"SELECT count(*) FROM {PREDICTIONS}")[0][0] == total


# --- simultaneous runs ----------------------------------------------------------------------------


@pytest.mark.usefixtures("daily_utc")
def test_two_simultaneous_cli_predicts_of_one_interval_both_publish_in_turn(april_champion, monkeypatch, caplog):
    cfg = april_champion
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", cfg.warehouse.url)
    monkeypatch.setenv("PIPELINE_ARTIFACTS__ROOT", cfg.artifacts.root)
    args = ["predict", "--model", "flight_delay", "--start", "2013-04-01", "--end", "2013-04-02"]
    holder = open_warehouse(cfg).engine.raw_connection()  # holds the model's publish lock meanwhile
    lock = publish_lock_key(cfg.predictions, "flight_delay")
    with holder.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock,))
    codes: list[int] = []
    threads = [threading.Thread(target=lambda: codes.append(main(list(args)))) for _ in range(2)]
    for thread in threads:
        thread.start()
    waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    deadline = time.monotonic() + 300
    while query(cfg, waiting)[0][0] < 2:  # both runs scored, staged and wait to publish
        assert time.monotonic() < deadline and all(t.is_alive() for t in threads), codes
        time.sleep(0.2)
    runs = query(cfg, f"SELECT DISTINCT run_id FROM {PREDICTIONS}_staging")
    assert len(runs) == 2  # each attempt has its own run id
    holder.rollback()  # releases the lock: the runs publish one after the other
    holder.close()
    for thread in threads:
        thread.join(300)
    assert codes == [0, 0]
    assert "waiting for it" in caplog.text
    rows = query(cfg, f"SELECT run_id, count(*) FROM {PREDICTIONS} GROUP BY run_id")
    # the later run's rows: the run cut off at 04-02 scores that day
    assert len(rows) == 1 and rows[0][1] == entities(cfg, APRIL_1 + DAY, APRIL_1 + 2 * DAY)
    assert duplicates(cfg) == 0 and staged(cfg) == 0


# --- a killed attempt -----------------------------------------------------------------------------


@pytest.mark.usefixtures("daily_utc")
def test_a_rerun_with_another_partitioning_ignores_a_killed_attempts_staging(april_champion, make_config):
    cfg = april_champion
    end = APRIL_1 + DAY
    ctx = RunContext("predict__flight_delay", "scheduled__2013-04-01", APRIL_1, end)
    n = entities(cfg, *cfg.cutoff_rule.window(end))
    three = make_config(cfg.warehouse.url, cfg.artifacts.root, predictions={"rows_per_partition": n // 3 + 1})
    rt = Runtime(three, ctx)
    models = predict.resolve_models(rt)
    plan = predict.plan_scoring(rt)
    assert len(plan) == 3
    for spec in plan:  # the first attempt stages every partition, then is killed before publishing
        predict.score_partition(rt, models, spec)
    assert staged(cfg) == n

    rerun = Runtime(cfg, ctx)  # the same run cleared and rerun, with the default partitioning
    plan = predict.plan_scoring(rerun)
    assert len(plan) == 1
    scored = [predict.score_partition(rerun, models, spec) for spec in plan]
    assert predict.publish(rerun, models, plan, scored)["rows"] == n
    assert query(cfg, f"SELECT count(*) FROM {PREDICTIONS}")[0][0] == n
    assert duplicates(cfg) == 0 and staged(cfg) == 0


# --- partitions and row counts --------------------------------------------------------------------


def test_empty_hash_partitions_are_skipped_and_row_counts_bound_the_interval(
    april_champion, make_config, tmp_path, caplog
):
    cfg = april_champion
    caplog.set_level(logging.INFO)
    # The demo's hourly runs, lead 1h: the run cut off at 04:00 New York scores the first handful of
    # flights, 5 am to 6 am.
    start, end = APRIL_1 + dt.timedelta(hours=7), APRIL_1 + dt.timedelta(hours=8)
    n = entities(cfg, *cfg.cutoff_rule.window(end))
    assert 4 <= n <= 40, n
    suite = json.loads(cfg.validation.suite_path("scoring").read_text())
    bounds = next(e for e in suite["expectations"] if e["type"] == "expect_table_row_count_to_be_between")
    # Null-share floors (`mostly`) judge each partition, and a partition of a row or two cannot honour a
    # share (two flights whose last pressure reading is missing): this test is about row counts, so they go.
    suite["expectations"] = [
        e for e in suite["expectations"] if not (e["type"].endswith("not_be_null") and "mostly" in e["kwargs"])
    ]

    def partitioned(min_rows: int):
        """A config with n hash partitions of one row on average (so that some are empty), and a suite
        asking for min_rows."""
        bounds["kwargs"] = {"min_value": min_rows}
        path = tmp_path / f"scoring_{min_rows}.json"
        path.write_text(json.dumps(suite))
        return make_config(
            cfg.warehouse.url,
            cfg.artifacts.root,
            predictions={"rows_per_partition": 1, "max_partitions": 40},
            validation={"scoring_suite": str(path)},
        )

    # The whole interval's count passes, though every partition holds fewer rows.
    rt = Runtime(partitioned(n), RunContext("predict__flight_delay", "small_partitions", start, end))
    models = predict.resolve_models(rt)
    plan = predict.plan_scoring(rt)
    scored = [predict.score_partition(rt, models, spec) for spec in plan]
    assert len(plan) > 1 and any(s["rows"] == 0 for s in scored), scored  # some hash partitions are empty
    assert "no entities in this hash partition" in caplog.text
    assert predict.publish(rt, models, plan, scored)["rows"] == n == sum(s["rows"] for s in scored)
    assert duplicates(cfg) == 0 and staged(cfg) == 0

    # One more row than the interval has: a partition fails, naming the interval's count.
    rt = Runtime(partitioned(n + 1), RunContext("predict__flight_delay", "too_few", start, end))
    first = next(spec for spec, s in zip(plan, scored, strict=True) if s["rows"])
    with pytest.raises(ValidationFailedError, match=f"observed {n} in the interval"):
        predict.score_partition(rt, models, first)


# --- the local cluster ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def other_cluster(pg_port, tmp_path):
    """A second throwaway cluster: (its folder, its port)."""
    folder, port = tmp_path / "other-postgres", free_port()
    local_pg.start(folder, port, "postgres")
    yield folder, port
    local_pg.stop(folder)
    shutil.rmtree(local_pg.cluster_dir(folder), ignore_errors=True)


def test_a_run_refuses_another_server_on_the_configured_port(pg_port, other_cluster, capsys, monkeypatch):
    from conftest import TEST_PG_DIR

    from pipeline.config import load_config

    other_dir, other_port = other_cluster

    def local(port: int):
        return load_config("flight_delay", warehouse={"url": None, "local_dir": str(TEST_PG_DIR), "local_port": port})

    assert open_warehouse(local(pg_port)).url == local_pg.url(pg_port)  # the cluster started: accepted
    with pytest.raises(local_pg.LocalClusterError, match="is not the local cluster") as refused:
        open_warehouse(local(other_port))  # the test cluster runs, but another server holds the port
    assert str(local_pg.cluster_dir(TEST_PG_DIR) / "data") in str(refused.value)
    assert f"listens on port {pg_port}" in str(refused.value)
    with pytest.raises(local_pg.LocalClusterError, match="is not the local cluster"):
        local_pg.start(TEST_PG_DIR, other_port)  # starting "again" on that port is refused too
    closed = free_port()
    with pytest.raises(local_pg.LocalClusterError, match=f"cannot reach the local cluster on 127.0.0.1:{closed}"):
        open_warehouse(local(closed))

    monkeypatch.setenv("PIPELINE_WAREHOUSE__LOCAL_DIR", str(TEST_PG_DIR))  # the CLI says so in one line
    monkeypatch.setenv("PIPELINE_WAREHOUSE__LOCAL_PORT", str(other_port))
    assert main(["predict", "--model", "flight_delay", "--end", "2013-04-02"]) == 1
    assert "is not the local cluster" in capsys.readouterr().err
    assert Path(local_pg.cluster_dir(other_dir) / "data").is_dir()  # the other server is left alone


# --- revision 0004 ------------------------------------------------------------------------------


def test_revision_0004_indexes_the_entities_of_every_predictions_table(fresh_seeded_url):
    from pipeline.config import load_config
    from pipeline.data import schema
    from pipeline.data.predictions import predictions_ddl
    from pipeline.data.warehouse import Warehouse

    wh = Warehouse(fresh_seeded_url)
    with wh.transaction() as cur:  # a classifier's table and a composite-key regression's, made at head
        classifier = load_config("flight_delay").predictions
        cur.execute(predictions_ddl(classifier, {"flight_id": "bigint"}, "binary_classification"))
        regression = {"origin": "text", "slot_start": "timestamptz"}
        cur.execute(predictions_ddl(load_config("origin_hourly_delay").predictions, regression, "regression"))
    index_sql = (
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
        "WHERE indexrelid::regclass::text LIKE 'ml.%%_entity' ORDER BY 1"
    )
    made_at_head = query_url(wh, index_sql)
    assert schema.downgrade(wh, "0003") == "0003"
    assert query_url(wh, index_sql) == []  # the older tables, without the index
    assert schema.upgrade(wh) == schema.head()
    assert query_url(wh, index_sql) == made_at_head
    assert [(name, definition.split(" USING btree ")[1]) for name, definition in made_at_head] == [
        ("ml.flight_delay_predictions_entity", "(model_name, flight_id)"),
        ("ml.origin_hourly_delay_predictions_entity", "(model_name, origin, slot_start)"),
    ]


def query_url(wh, text: str) -> list[tuple]:
    with wh.transaction() as cur:
        cur.execute(text)
        return cur.fetchall()
