"""Schema migrations: a warehouse at the first revision, or made by the code before migrations, keeps
every row when upgraded to head; tasks' read-only check; idempotent upgrades; the key's real type."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.data import schema
from pipeline.data.warehouse import Warehouse

PRE_ALEMBIC = Path(__file__).parent / "data" / "pre_alembic_schema.sql"
TABLES = (
    "ml.model_versions",
    "ml.champion_history",
    "ml.validation_results",
    "ml.feature_drift",
    "ml.model_performance",
    "ml.retrain_triggers",
    "ml.flight_delay_predictions",
)
# One row in each table of the first revision's shape, as the pipeline wrote them.
ROWS = """
INSERT INTO ml.model_versions (model_name, version, status, metrics, baseline_metrics, params, train_start,
    train_end, holdout_start, holdout_end, train_rows, holdout_rows, training_data_sha256, training_data_uri,
    validation_uri, model_sha256, artifact_uri, config, code_version, sklearn_version, python_version, dag_id,
    run_id, dag_version, decision, decision_reason, decided_at)
SELECT 'flight_delay', v, CASE v WHEN 1 THEN 'champion' ELSE 'candidate' END, '{"roc_auc": 0.7}', '{"roc_auc": 0.5}',
    '{}', '2013-01-01Z', '2013-02-26Z', '2013-02-26Z', '2013-03-05Z', 46000, 6000, 'abc', 'file:///a/d', 'file:///a/v',
    'def', 'file:///a', '{}', 'c0ffee', '1.8', '3.11.7', 'retrain', 'r' || v, NULL, 'promoted', 'first', now()
FROM generate_series(1, 2) AS v;
INSERT INTO ml.champion_history (model_name, old_version, new_version, valid_from, reason, actor, detail)
VALUES ('flight_delay', NULL, 1, '2013-03-05Z', 'promoted', 'retrain/r1', 'no champion yet');
INSERT INTO ml.validation_results (dag_id, run_id, batch_kind, suite_name, data_interval_start, data_interval_end,
    row_count, success, evaluated, failed, failed_expectations, artifact_uri)
VALUES ('retrain', 'r1', 'training', 'flights_training', '2013-01-01Z', '2013-03-05Z', 52000, true, 52, 0, '[]', 'x');
INSERT INTO ml.feature_drift (model_name, model_version, data_interval_start, data_interval_end, window_start,
    feature, kind, metric, value, threshold, drifted, reference_rows, current_rows, run_id)
VALUES ('flight_delay', 1, '2013-03-05Z', '2013-03-06Z', '2013-02-27Z', 'temp', 'numeric', 'psi', 0.1, 0.25, false,
    46000, 6000, 'm1');
INSERT INTO ml.model_performance (model_name, model_version, data_interval_start, data_interval_end, day, metric,
    value, run_id)
VALUES ('flight_delay', 1, '2013-03-05Z', '2013-03-06Z', '2013-03-05', 'roc_auc', 0.69, 'm1');
INSERT INTO ml.retrain_triggers (model_name, data_interval_start, data_interval_end, champion_version, retrain,
    suppressed, reasons, run_id)
VALUES ('flight_delay', '2013-03-05Z', '2013-03-06Z', 1, false, false, '[]', 'm1');
INSERT INTO ml.flight_delay_predictions (flight_id, score, predicted_label, model_name, model_version, is_champion,
    data_interval_start, data_interval_end, run_id)
SELECT id, 0.25, 0, 'flight_delay', 1, true, '2013-03-05Z', '2013-03-06Z', 'p1' FROM generate_series(1, 500) AS id;
"""


# The predictions table as the code before migrations (and revision 0001's code) created it.
OLD_PREDICTIONS = PRE_ALEMBIC.read_text().split("-- Per-model predictions table", 1)[1].split("\n", 1)[1]


def snapshot(wh: Warehouse) -> dict[str, list[dict]]:
    """Every row of every table, ordered, as column -> value, for comparison."""
    with wh.transaction() as cur:
        out = {}
        for table in TABLES:
            cur.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4")
            columns = [c.name for c in cur.description]
            out[table] = [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
        return out


def drop_ml(wh: Warehouse) -> None:
    with wh.transaction() as cur:
        cur.execute("DROP SCHEMA ml CASCADE")


@pytest.mark.parametrize("made_by", ["first revision", "code before migrations"])
def test_an_old_warehouse_is_upgraded_in_place_with_every_row(fresh_seeded_url, made_by):
    wh = Warehouse(fresh_seeded_url)
    drop_ml(wh)  # the seeded template is at head: start over
    if made_by == "first revision":
        assert schema.upgrade(wh, "0001") == "0001"
        with wh.transaction() as cur:
            cur.execute(OLD_PREDICTIONS)
    else:
        with wh.transaction() as cur:
            cur.execute(PRE_ALEMBIC.read_text())
        assert schema.current_revision(wh) is None
    with wh.transaction() as cur:
        cur.execute(ROWS)
    before = snapshot(wh)
    assert all(before.values()) and len(before["ml.flight_delay_predictions"]) == 500
    with pytest.raises(schema.SchemaError, match="pipeline db upgrade"):
        schema.require_current(wh)

    assert schema.upgrade(wh) == schema.head() != "0001"
    schema.require_current(wh)
    after = snapshot(wh)
    # Every old row is there with its old values; the new columns hold what is known about them.
    for table, rows in before.items():
        assert [{k: row[k] for k in rows[0]} for row in after[table]] == rows, table
    lineage = ("feature_sql_sha256", "expectation_suites", "feature_sql", "config_sha256")
    assert all(row[c] is None for row in after["ml.model_versions"] for c in lineage)  # unknown
    # One model in the registry: its old validation rows are its own; each row now has an id.
    assert [(r["model_name"], r["id"] is not None) for r in after["ml.validation_results"]] == [("flight_delay", True)]
    assert all(r["prediction"] == r["score"] for r in after["ml.flight_delay_predictions"])
    assert [r["evidence"] for r in after["ml.retrain_triggers"]] == [None]


def test_tasks_check_the_schema_without_changing_it(empty_url, seeded_url):
    empty = Warehouse(empty_url)
    with pytest.raises(schema.SchemaError, match="never migrated"):
        schema.require_current(empty)
    assert schema.current_revision(empty) is None  # the check changed nothing
    schema.require_current(Warehouse(seeded_url))  # the seeded template was upgraded to head


def test_upgrade_is_idempotent_and_creates_no_predictions_table(fresh_seeded_url):
    wh = Warehouse(fresh_seeded_url)
    assert schema.upgrade(wh) == schema.upgrade(wh) == schema.head()
    with wh.transaction() as cur:  # only a model's first predict creates a predictions table
        cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'ml' AND tablename LIKE '%%predictions%%'")
        assert cur.fetchone() == (0,)


VALIDATION_ATTEMPT = """
INSERT INTO ml.validation_results (model_name, dag_id, run_id, batch_kind, suite_name, data_interval_start,
    data_interval_end, row_count, success, evaluated, failed, failed_expectations, artifact_uri)
VALUES ('m', 'retrain__m', 'r1', 'training', 's', '2013-01-01Z', '2013-03-05Z', 10, %(success)s, 5, 0, '[]', 'x')
"""


def test_downgrade_to_the_previous_revision_and_back(fresh_seeded_url):
    from pipeline.data.predictions import predictions_ddl

    wh = Warehouse(fresh_seeded_url)
    regression = load_config("origin_hourly_delay").predictions
    with wh.transaction() as cur:  # a failed attempt, then the retry that passed: two rows at head
        for success in (False, True):
            cur.execute(VALIDATION_ATTEMPT, {"success": success})
        # a regression's predictions table, made at head: no score column
        cur.execute(predictions_ddl(regression, {"origin": "text", "slot_start": "timestamptz"}, "regression"))
    assert schema.downgrade(wh, "0002") == "0002"
    with wh.transaction() as cur:  # the older code writes no prediction: the column may be NULL again
        cur.execute(
            "SELECT is_nullable FROM information_schema.columns WHERE table_schema = 'ml' "
            "AND table_name = 'origin_hourly_delay_predictions' AND column_name = 'prediction'"
        )
        assert cur.fetchone() == ("YES",)
    with wh.transaction() as cur:  # 0002 keys a run's batch once: the newest attempt is kept
        cur.execute("SELECT success FROM ml.validation_results")
        assert cur.fetchall() == [(True,)]
    assert schema.upgrade(wh) == schema.head()
    schema.require_current(wh)


def test_an_empty_warehouse_gets_the_ml_schema(empty_url):
    wh = Warehouse(empty_url)
    assert schema.upgrade(wh) == schema.head()
    schema.require_current(wh)


PERFORMANCE_ROW = """
INSERT INTO ml.model_performance (model_name, model_version, data_interval_start, data_interval_end, day, metric,
    value, run_id)
VALUES ('flight_delay', 1, %(end)s::timestamptz - interval '1 day', %(end)s, '2013-03-05', %(metric)s, %(value)s,
    %(run_id)s)
"""


def test_revision_0009_keeps_the_latest_measurement_of_each_fact(fresh_seeded_url):
    wh = Warehouse(fresh_seeded_url)
    assert schema.downgrade(wh, "0008") == "0008"
    # Three overlapping daily monitor runs each measured 2013-03-05's ROC AUC; one measured its rows.
    with wh.transaction() as cur:
        for end, value in (("2013-03-06Z", 0.61), ("2013-03-08Z", 0.63), ("2013-03-07Z", 0.62)):
            cur.execute(PERFORMANCE_ROW, {"end": end, "metric": "roc_auc", "value": value, "run_id": f"m{end[:10]}"})
        cur.execute(PERFORMANCE_ROW, {"end": "2013-03-06Z", "metric": "rows", "value": 900, "run_id": "m1"})

    assert schema.upgrade(wh) == schema.head()
    with wh.transaction() as cur:
        cur.execute("SELECT metric, value, run_id FROM ml.model_performance ORDER BY metric")
        assert cur.fetchall() == [("roc_auc", 0.63, "m2013-03-08"), ("rows", 900.0, "m1")]
        with pytest.raises(Exception, match="model_performance_pkey"):  # a second row for a fact is refused
            cur.execute(PERFORMANCE_ROW, {"end": "2013-03-09Z", "metric": "rows", "value": 901, "run_id": "m2"})
    assert schema.downgrade(wh, "0008") == "0008"  # the rows kept satisfy the older key
    assert schema.upgrade(wh) == schema.head()
