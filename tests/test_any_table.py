"""Any table, any key: a synthetic dataset keyed by each supported PostgreSQL type, and by a
composite key, goes through retrain, predict and monitor (with realized performance) with nothing but
a model file, a feature query and a suite; and so does a regression. Two models retrained for the same
interval keep their own rows."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from pipeline.cli import summary_report
from pipeline.config import load_config
from pipeline.data import schema
from pipeline.data.warehouse import Warehouse
from pipeline.features.build import FeatureTableError
from pipeline.stages import RunContext, Runtime, monitor, predict, retrain

UTC = dt.UTC
DAY = dt.timedelta(days=1)
FIRST_DAY = dt.datetime(2020, 1, 1, tzinfo=UTC)
DAYS = 120
TRAIN_END = FIRST_DAY + 90 * DAY  # retrain as of here; then predict and monitor the week after

# key type -> (SQL type, expression of the day number d (0-based) and the row r within the day)
KEYS = {
    "bigint": ("bigint", "10000000000 + d * 10 + r"),
    "integer": ("integer", "d * 10 + r"),
    "text": ("text", "'entity-' || d || '-' || r"),
    "uuid": ("uuid", "md5(d || '/' || r)::uuid"),
    "date": ("date", "date '2020-01-01' + d * 10 + r"),
    "timestamptz": ("timestamptz", "timestamptz '2020-01-01 00:00+00' + (d * 10 + r) * interval '1 minute'"),
}
ROWS_PER_DAY = 6
# deployment()'s task, label and estimator of each kind of model
CLASSIFIER = ("binary_classification", "label", "sklearn.linear_model.LogisticRegression")
REGRESSION = ("regression", "amount", "sklearn.linear_model.LinearRegression")

SOURCE = """
CREATE SCHEMA IF NOT EXISTS synth;
CREATE TABLE synth.events AS
SELECT {key_expr} AS entity,
       'region-' || (r % 3) AS region,
       date '2020-01-01' + d AS day,
       timestamptz '2020-01-01 00:00+00' + d * interval '1 day' + r * interval '3 hours' AS event_time,
       x1, x2, CASE WHEN r % 2 = 0 THEN 'a' ELSE 'b' END AS cat,
       (x1 + 0.5 * x2 > 0)::int::smallint AS label,
       3.0 * x1 - 2.0 * x2 AS amount
FROM generate_series(0, {days} - 1) AS d,
     generate_series(0, {rows} - 1) AS r,
     LATERAL (SELECT sin(d * 7 + r * 13)::double precision AS x1, cos(d * 3 + r * 5)::double precision AS x2) AS v
"""

# Each row as of its cutoff (the default schedule: daily in UTC, lead 0), its label known an hour
# after the event.
QUERY = """
SELECT {key_columns}, event_time, date_bin(%(horizon)s, event_time - %(lead)s, %(origin)s) AS as_of,
       x1, x2, cat, {label}, event_time + interval '1 hour' AS label_known_at
FROM synth.events
WHERE event_time >= %(start)s AND event_time < %(end)s
"""

SUITE = {
    "name": "synthetic",
    "expectations": [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x1"}},
    ],
}


def deployment(
    tmp_path: Path,
    url: str,
    name: str,
    key: list[str],
    task: str,
    label: str,
    estimator: str,
    label_delay: str = "1 hour",
) -> str:
    """A shared file, and one model file with its query and suites, in ``tmp_path``; returns the
    shared file's path. Each label is known ``label_delay`` (a PostgreSQL interval) after its event."""
    models = tmp_path / "models"
    models.mkdir(exist_ok=True)
    query = QUERY.format(key_columns=", ".join(f"{c} AS {c}" for c in key), label=label)
    (tmp_path / f"{name}.sql").write_text(query.replace("interval '1 hour'", f"interval '{label_delay}'"))
    (tmp_path / f"{name}_suite.json").write_text(json.dumps(SUITE))
    shared = tmp_path / "pipeline.yaml"
    shared.write_text(
        yaml.safe_dump(
            {"warehouse": {"url": url}, "artifacts": {"root": str(tmp_path / "artifacts")}, "models_dir": str(models)}
        )
    )
    model = {
        "task": task,
        "dataset": {
            "name": "synthetic",
            "feature_sql": str(tmp_path / f"{name}.sql"),
            "key": key,
            "timestamp": "event_time",
            "label": label,
            "numeric_features": ["x1", "x2"],
            "categorical_features": ["cat"],
        },
        "validation": {
            "training_suite": str(tmp_path / f"{name}_suite.json"),
            "scoring_suite": str(tmp_path / f"{name}_suite.json"),
        },
        "model": {"estimator": estimator, "params": {}},
        "training": {"window_days": 60, "holdout_days": 14},
        "predictions": {"table": f"ml.{name}_predictions", "shadow_latest_candidate": False},
        "monitoring": {"window_days": 7},
    }
    (models / f"{name}.yaml").write_text(yaml.safe_dump(model))
    return str(shared)


@pytest.fixture
def synthetic_url(empty_url: str) -> str:
    schema.upgrade(Warehouse(empty_url))
    return empty_url


def create_source(url: str, key_type: str) -> None:
    sql_type, expression = KEYS[key_type]
    with Warehouse(url).transaction() as cur:
        cur.execute(SOURCE.format(key_expr=f"({expression})::{sql_type}", days=DAYS, rows=ROWS_PER_DAY))


def run_model(cfg) -> dict:
    """Retrain as of TRAIN_END, predict the week after it (the daily runs cut off at each of its
    midnights), monitor that week; ``published`` sums the runs' rows."""
    trained = retrain.run(Runtime(cfg, RunContext(f"retrain__{cfg.model.name}", "r1", TRAIN_END - DAY, TRAIN_END)))
    week_end = TRAIN_END + 7 * DAY
    runs = [
        predict.run(Runtime(cfg, RunContext(f"predict__{cfg.model.name}", f"p{d}", TRAIN_END + (d - 1) * DAY, T)))
        for d, T in ((d, TRAIN_END + d * DAY) for d in range(7))
    ]
    published = {"rows": sum(r["rows"] for r in runs)}
    monitored = monitor.measure(Runtime(cfg, RunContext(f"monitor__{cfg.model.name}", "m1", week_end - DAY, week_end)))
    return {"trained": trained, "published": published, "monitored": monitored}


def query(url: str, statement: str, params: dict | None = None) -> list[tuple]:
    with Warehouse(url).transaction() as cur:
        cur.execute(statement, params)
        return cur.fetchall()


def column_types(url: str, table: str) -> dict[str, str]:
    schema_name, table_name = table.split(".")
    rows = query(
        url,
        "SELECT column_name, format_type(atttypid, NULL) FROM information_schema.columns "
        "JOIN pg_attribute ON attrelid = (table_schema || '.' || table_name)::regclass AND attname = column_name "
        "WHERE table_schema = %(s)s AND table_name = %(t)s",
        {"s": schema_name, "t": table_name},
    )
    return dict(rows)


@pytest.mark.parametrize("key_type", sorted(KEYS))
def test_every_key_type_end_to_end(synthetic_url: str, tmp_path: Path, key_type: str) -> None:
    create_source(synthetic_url, key_type)
    shared = deployment(tmp_path, synthetic_url, "synth", ["entity"], *CLASSIFIER)
    cfg = load_config("synth", shared)

    result = run_model(cfg)

    table = cfg.predictions.table
    expected_type = {"timestamptz": "timestamp with time zone"}.get(key_type, key_type)
    assert column_types(synthetic_url, table)["entity"] == expected_type
    week = 7 * ROWS_PER_DAY
    assert result["published"]["rows"] == week
    # Every prediction joins back to exactly one source row, by the key in its own type.
    joined = query(synthetic_url, f"SELECT count(*) FROM {table} p JOIN synth.events e ON e.entity = p.entity")
    assert joined == [(week,)]
    # Realized performance: the week's labels matched every prediction.
    monitored = result["monitored"]
    assert monitored["window_rows"] == week
    assert monitored["realized_metric"] == "roc_auc" and 0.5 < monitored["realized_value"] <= 1.0
    rows = query(
        synthetic_url,
        "SELECT sum(value) FROM ml.model_performance WHERE model_name = 'synth' AND metric = 'rows'",
    )
    assert rows == [(float(week),)]


def test_composite_key_regression_end_to_end(synthetic_url: str, tmp_path: Path) -> None:
    create_source(synthetic_url, "integer")
    shared = deployment(tmp_path, synthetic_url, "synth_amount", ["region", "day", "entity"], *REGRESSION)
    cfg = load_config("synth_amount", shared)

    result = run_model(cfg)

    table = cfg.predictions.table
    types = column_types(synthetic_url, table)
    assert (types["region"], types["day"], types["entity"]) == ("text", "date", "integer")
    assert "score" not in types and types["prediction"] == "double precision"
    trained = result["trained"]
    # The label is linear in the features: the model must beat the mean-of-training baseline by far.
    assert trained["metric"] == "rmse" and trained["challenger_metric"] < 1e-6
    week = 7 * ROWS_PER_DAY
    joined = query(
        synthetic_url,
        f"SELECT count(*), max(abs(p.prediction - e.amount)) FROM {table} p "
        "JOIN synth.events e USING (region, day, entity)",
    )
    assert joined[0][0] == week and joined[0][1] < 1e-6
    monitored = result["monitored"]
    assert monitored["realized_metric"] == "rmse" and monitored["realized_value"] < 1e-6
    # No estimates for a regression (CBPE needs probabilities): the summary suggests its realized RMSE instead.
    report = summary_report(cfg)
    assert "performance_estimates" not in report and "AND metric = 'rmse' ORDER BY day DESC" in report


def test_two_models_retrained_for_the_same_interval_keep_their_own_rows(synthetic_url: str, tmp_path: Path) -> None:
    create_source(synthetic_url, "bigint")
    deployment(tmp_path, synthetic_url, "first", ["entity"], *CLASSIFIER)
    shared = deployment(tmp_path, synthetic_url, "second", ["entity"], *REGRESSION)
    context = RunContext("retrain", "scheduled__2020-03-31", TRAIN_END - DAY, TRAIN_END)  # the same run id

    for name in ("first", "second"):
        retrain.run(Runtime(load_config(name, shared), context))

    rows = query(
        synthetic_url,
        "SELECT model_name, batch_kind, success FROM ml.validation_results WHERE run_id = %(r)s ORDER BY 1",
        {"r": context.run_id},
    )
    assert rows == [("first", "training", True), ("second", "training", True)]
    versions = query(synthetic_url, "SELECT model_name, version, status FROM ml.model_versions ORDER BY 1")
    assert versions == [("first", 1, "champion"), ("second", 1, "champion")]


def test_a_version_records_its_query_suites_and_config(synthetic_url: str, tmp_path: Path) -> None:
    import hashlib

    create_source(synthetic_url, "integer")
    shared = deployment(tmp_path, synthetic_url, "lineage", ["entity"], *REGRESSION)
    cfg = load_config("lineage", shared)
    retrain.run(Runtime(cfg, RunContext("retrain__lineage", "r1", TRAIN_END - DAY, TRAIN_END)))

    [(query_text, query_sha, suites, config_sha)] = query(
        synthetic_url,
        "SELECT feature_sql, feature_sql_sha256, expectation_suites, config_sha256 FROM ml.model_versions",
    )
    assert query_text == (tmp_path / "lineage.sql").read_text().strip()
    assert query_sha == hashlib.sha256(query_text.encode()).hexdigest()
    suite_file = (tmp_path / "lineage_suite.json").read_bytes()
    for kind in ("training", "scoring"):
        assert suites[kind]["sha256"] == hashlib.sha256(suite_file).hexdigest()
        assert suites[kind]["suite"] == json.loads(suite_file)
    # An edited model file changes the config's hash.
    edited = load_config("lineage", shared, training={"window_days": 30})
    assert retrain.lineage(edited)["config_sha256"] != config_sha == retrain.lineage(cfg)["config_sha256"]


def test_code_version_is_dirty_for_untracked_files_under_the_lineage_paths(tmp_path: Path) -> None:
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "features.sql").write_text("SELECT 1")
    (tmp_path / ".gitignore").write_text("*.pyc\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    clean = retrain.code_version(tmp_path)
    assert len(clean) == 40 and not clean.endswith("-dirty")

    (tmp_path / "notes.txt").write_text("not code")  # outside config/, sql/, expectations/, pipeline/, dags/
    (tmp_path / "sql" / "cache.pyc").write_text("ignored")
    assert retrain.code_version(tmp_path) == clean
    (tmp_path / "expectations").mkdir()
    (tmp_path / "expectations" / "new_suite.json").write_text("{}")  # untracked, under a lineage path
    assert retrain.code_version(tmp_path) == clean + "-dirty"
    (tmp_path / "expectations" / "new_suite.json").unlink()
    (tmp_path / "sql" / "features.sql").write_text("SELECT 2")  # tracked, edited
    assert retrain.code_version(tmp_path) == clean + "-dirty"
    assert retrain.code_version(tmp_path / "nowhere") == "unknown"


def test_a_predictions_table_of_another_shape_is_refused_by_name(synthetic_url: str, tmp_path: Path) -> None:
    from pipeline.data.schema import SchemaError

    create_source(synthetic_url, "text")
    shared = deployment(tmp_path, synthetic_url, "reshaped", ["entity"], *REGRESSION)
    run_model(load_config("reshaped", shared))  # creates ml.reshaped_predictions for a regression
    # The same query (its label column is `amount`), now a classifier's: the table lacks a classifier's columns.
    classifier = load_config("reshaped", shared, task="binary_classification")

    with pytest.raises(SchemaError, match=r"no column\(s\) \['score', 'predicted_label'\]"):
        schema.provision_predictions(Warehouse(synthetic_url), classifier)


def test_text_key_with_late_labels_warns_and_keeps_one_row_per_fact(synthetic_url: str, tmp_path: Path) -> None:
    """Labels known three days after the event (a churn table's delay, shortened): a fifth of the holdout
    is unlabelled at the cutoff, which the version records; overlapping monitor windows measure a day once."""
    create_source(synthetic_url, "text")
    shared = deployment(
        tmp_path,
        synthetic_url,
        "churn",
        ["entity"],
        *CLASSIFIER,
        label_delay="3 days",
    )
    cfg = load_config("churn", shared)
    trained = retrain.run(Runtime(cfg, RunContext("retrain__churn", "r1", TRAIN_END - DAY, TRAIN_END)))
    # The 14-day holdout's first 11 days are labelled by the cutoff, and so is the row stamped at the first
    # midnight of the last 3 days: its label is known exactly at the cutoff (known-at is closed). The rest are not.
    labelled = 11 * ROWS_PER_DAY + 1
    assert trained["metrics"]["holdout_labelled_share"] == pytest.approx(labelled / (14 * ROWS_PER_DAY))
    assert trained["metrics"]["holdout_rows_not_yet_labelled"] == 3 * ROWS_PER_DAY - 1
    assert trained["holdout_warning"].startswith("only 80% of the holdout's rows were labelled at the cutoff")
    [(reason,)] = query(synthetic_url, "SELECT decision_reason FROM ml.model_versions WHERE version = 1")
    assert reason.endswith(f"; warning: {trained['holdout_warning']}")  # below training.min_labelled_share's 80%
    lenient = load_config("churn", shared, training={"min_labelled_share": 0.75})
    again = retrain.run(Runtime(lenient, RunContext("retrain__churn", "r2", TRAIN_END - DAY, TRAIN_END)))
    assert again["holdout_warning"] is None and "warning" not in again["reason"]

    for d in range(7):  # daily predicts cut off at each midnight of the week after TRAIN_END score its days
        predict.run(Runtime(cfg, RunContext("predict__churn", f"p{d}", TRAIN_END + (d - 1) * DAY, TRAIN_END + d * DAY)))
    # Two daily monitor runs whose 7-day windows overlap on five days; labels known by each cutoff.
    for d in (9, 10):
        monitor.measure(
            Runtime(cfg, RunContext("monitor__churn", f"m{d}", TRAIN_END + (d - 1) * DAY, TRAIN_END + d * DAY))
        )
    facts = query(
        synthetic_url,
        "SELECT count(*), count(DISTINCT (model_version, day, metric)), count(DISTINCT day), max(data_interval_end) "
        "FROM ml.model_performance WHERE model_name = 'churn'",
    )
    # Days TRAIN_END + 2 to + 6 were labelled (3 days after the event) by the second cutoff; once each.
    assert facts[0][0] == facts[0][1] and facts[0][2] == 5 and facts[0][3] == TRAIN_END + 10 * DAY
    assert "performance_estimates" in summary_report(cfg)


def test_a_column_the_query_does_not_return_is_named_before_any_table_check(synthetic_url: str, tmp_path: Path) -> None:
    create_source(synthetic_url, "text")
    shared = deployment(tmp_path, synthetic_url, "typo", ["entity"], *CLASSIFIER)
    schema.provision_predictions(Warehouse(synthetic_url), load_config("typo", shared))  # made for the right key
    run = RunContext("predict__typo", "p1", TRAIN_END - DAY, TRAIN_END)
    for section, named in (
        ({"key": ["entity_idd"]}, r"'entity_idd' \(dataset\.key\)"),
        ({"label_known_at": "label_knwon_at"}, r"'label_knwon_at' \(dataset\.label_known_at\)"),
        ({"numeric_features": ["x1", "x3"]}, r"'x3' \(dataset\.numeric_features\)"),
    ):
        typo = load_config("typo", shared, dataset=section)
        with pytest.raises(FeatureTableError, match=f"typo.sql returns no column {named} of typo's config"):
            predict.plan_scoring(Runtime(typo, run))
    assert query(synthetic_url, "SELECT count(*) FROM ml.served_batches") == [(0,)]  # nothing was written


def test_a_retrain_older_than_the_champion_is_never_compared_on_its_training_rows(
    synthetic_url: str, tmp_path: Path
) -> None:
    create_source(synthetic_url, "integer")
    shared = deployment(tmp_path, synthetic_url, "fair", ["entity"], *REGRESSION)
    cfg = load_config("fair", shared)

    def retrain_as_of(end: dt.datetime, run_id: str, force: bool = False) -> dict:
        return retrain.run(Runtime(cfg, RunContext("retrain__fair", run_id, end - DAY, end)), force=force)

    assert retrain_as_of(TRAIN_END, "r1")["decision"] == "promoted"  # v1: trained up to TRAIN_END - 14 days
    # `pipeline retrain --end` 20 days earlier: its holdout lies inside v1's training window.
    old = retrain_as_of(TRAIN_END - 20 * DAY, "r2")
    assert old["decision"] == "rejected" and old["status"] == "candidate"
    assert old["gate"] is None and old["champion_metric"] is None  # not compared on v1's own training rows
    assert "champion v1 is newer" in old["reason"] and "not promoted over a newer champion" in old["reason"]
    assert "not compared with champion v1: this holdout" in old["reason"]
    # The same cutoff as v1's: the same holdout, neither fresher; compared, the gate decides (the same model).
    same = retrain_as_of(TRAIN_END, "r3")
    assert same["decision"] == "promoted" and same["gate"]["promote"] and "newer" not in same["reason"]
    forced = retrain_as_of(TRAIN_END - 20 * DAY, "r4", force=True)
    assert forced["decision"] == "forced" and forced["reason"].startswith("champion v3 is newer")
    champions = query(synthetic_url, "SELECT version FROM ml.model_versions WHERE status = 'champion'")
    assert champions == [(forced["version"],)]
