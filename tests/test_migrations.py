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


def snapshot(wh: Warehouse) -> dict[str, list[tuple]]:
    """Every row of every table, ordered, for comparison."""
    with wh.transaction() as cur:
        out = {}
        for table in TABLES:
            cur.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4")
            out[table] = cur.fetchall()
        return out


def drop_ml(wh: Warehouse) -> None:
    with wh.transaction() as cur:
        cur.execute("DROP SCHEMA ml CASCADE")


@pytest.mark.parametrize("made_by", ["first revision", "code before migrations"])
def test_an_old_warehouse_is_upgraded_in_place_with_every_row(fresh_seeded_url, made_by):
    cfg, wh = load_config(), Warehouse(fresh_seeded_url)
    drop_ml(wh)  # the seeded template is at head: start over
    if made_by == "first revision":
        assert schema.upgrade(wh, cfg, "0001") == "0001"
    else:
        with wh.transaction() as cur:
            cur.execute(PRE_ALEMBIC.read_text())
        assert schema.current_revision(wh) is None
    with wh.transaction() as cur:
        cur.execute(ROWS)
    before = snapshot(wh)
    assert all(before.values()) and len(before["ml.flight_delay_predictions"]) == 500
    with pytest.raises(schema.SchemaError, match="pipeline db upgrade"):
        schema.require_current(wh, cfg)

    assert schema.upgrade(wh, cfg) == schema.head() != "0001"
    schema.require_current(wh, cfg)
    after = snapshot(wh)
    # Every old row is there, unchanged; the model versions gained the lineage columns, NULL (unknown).
    versions = after.pop("ml.model_versions")
    assert [row[:-2] for row in versions] == before.pop("ml.model_versions")
    assert all(row[-2:] == (None, None) for row in versions)
    assert after == before


def test_tasks_check_the_schema_without_changing_it(empty_url, seeded_url):
    cfg = load_config()
    empty = Warehouse(empty_url)
    with pytest.raises(schema.SchemaError, match="never migrated"):
        schema.require_current(empty, cfg)
    assert schema.current_revision(empty) is None  # the check changed nothing
    schema.require_current(Warehouse(seeded_url), cfg)  # the seeded template was upgraded to head


def test_upgrade_is_idempotent_and_the_key_keeps_the_feature_query_type(fresh_seeded_url):
    cfg, wh = load_config(), Warehouse(fresh_seeded_url)
    before = wh.fetch("migrations/predictions_table_list")
    assert schema.upgrade(wh, cfg) == schema.upgrade(wh, cfg) == schema.head()
    assert wh.fetch("migrations/predictions_table_list") == before == [{"table_name": "ml.flight_delay_predictions"}]
    with wh.transaction() as cur:
        cur.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_schema = 'ml' AND table_name = 'flight_delay_predictions' AND column_name = 'flight_id'"
        )
        assert cur.fetchone() == ("bigint",)


def test_an_empty_warehouse_gets_the_ml_schema_and_a_clear_word_on_the_predictions_table(empty_url, caplog):
    cfg, wh = load_config(), Warehouse(empty_url)
    assert schema.upgrade(wh, cfg) == schema.head()
    assert "predictions table ml.flight_delay_predictions not created" in caplog.text
    with pytest.raises(schema.SchemaError, match="flight_delay_predictions does not exist"):
        schema.require_current(wh, cfg)
