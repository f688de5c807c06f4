"""The warehouse's ``ml`` schema, created and upgraded by Alembic revisions (``pipeline db upgrade``).

Revisions live in ``pipeline/data/migrations/versions/``; their SQL in ``sql/migrations/``. Alembic's
version table is ``ml.alembic_version``. Revision 0001 is the schema as the pipeline created it before
migrations, written with ``IF NOT EXISTS``, so a warehouse made by that code is adopted in place.

A model's predictions table (with its staging table and views) is created at the head shape by the
model's first ``predict`` run (:func:`provision_predictions`), and by nothing else: its key columns take
the types the feature query returns, which only the model's own query can say. A revision that
changes the predictions tables alters every deployed one: the tables with a foreign key to
``ml.model_versions`` other than the champion history, looped over in the revision's own SQL
(``sql/migrations/0003_models.sql`` shows how).

Apart from that, tasks never run DDL: they call :func:`require_current`, which only reads.

Writing a revision: add ``sql/migrations/NNNN_<name>.sql`` and
``pipeline/data/migrations/versions/NNNN_<name>.py`` with ``revision = "NNNN"``,
``down_revision`` = the previous one, and ``upgrade()`` calling ``run_sql("NNNN_<name>")``.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import cache
from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.data.warehouse import Warehouse, statement
from pipeline.errors import PermanentError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_SCHEMA = "ml"
# Any window serves to describe the feature query's result (it runs with LIMIT 0).
_DESCRIBE_WINDOW = (dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.datetime(1970, 1, 2, tzinfo=dt.UTC))


class SchemaError(PermanentError):
    """The warehouse's schema is not the one this code needs; the message says how to fix it."""


def _alembic_config(connection=None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def head() -> str:
    """The newest revision this code knows."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(warehouse: Warehouse) -> str | None:
    """The warehouse's revision, or None when it has never been migrated."""
    from alembic.runtime.migration import MigrationContext

    with warehouse.engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table_schema": VERSION_SCHEMA}).get_current_revision()


def upgrade(warehouse: Warehouse, revision: str = "head") -> str:
    """Upgrade the ``ml`` schema to ``revision``.

    One transaction under an advisory lock: concurrent upgrades wait for each other, and a failed one
    changes nothing. Idempotent.

    Returns:
        The revision now current.

    Raises:
        WarehouseError, sqlalchemy.exc.DBAPIError: the database refused a statement.
    """
    from alembic import command

    before = current_revision(warehouse)
    with warehouse.engine.begin() as conn:
        execute(conn, "lock")
        command.upgrade(_alembic_config(conn), revision)
    now = current_revision(warehouse)
    log.info("ml schema: %s -> %s", before or "empty", now)
    return now


def downgrade(warehouse: Warehouse, revision: str) -> str:
    """Downgrade the ``ml`` schema to ``revision`` (each revision's downgrade SQL says what it keeps),
    in one transaction under the same lock as :func:`upgrade`. Returns the revision now current."""
    from alembic import command

    with warehouse.engine.begin() as conn:
        execute(conn, "lock")
        command.downgrade(_alembic_config(conn), revision)
    return current_revision(warehouse)


def provision_predictions(warehouse: Warehouse, cfg: PipelineConfig) -> bool:
    """Check that the feature query returns every configured column (:func:`query_columns`), then
    create the model's predictions table, staging table and views unless the table exists.

    The key columns take the types the feature query's result describes, so a ``date``, ``uuid`` or
    ``timestamptz`` key joins back to the feature table exactly. Under the migrations' advisory lock,
    in one transaction: concurrent first runs create it once.

    Returns:
        True when the table was created now.

    Raises:
        FeatureTableError: the feature query returns no column of a configured name (a typo in the
            key, timestamp, label, ``label_known_at`` or a feature), checked before any table.
        SchemaError: the table exists with other columns than this model needs (its key or task changed).
        psycopg2.Error: the feature query or the DDL failed (nothing is created).
    """
    from pipeline.data.predictions import predictions_ddl

    ds, table = cfg.dataset, cfg.predictions.table
    oids = query_columns(warehouse, cfg)
    if warehouse.table_exists(table):
        _check_predictions_shape(warehouse, cfg)
        return False  # the usual case: no lock, so predict runs never queue behind each other
    with warehouse.engine.begin() as conn:
        execute(conn, "lock")
        cur = conn.connection.dbapi_connection.cursor()
        cur.execute(statement("migrations/table_exists"), {"table": table})
        if cur.fetchone()[0]:
            return False
        key_types = {}
        for column in ds.key:
            cur.execute(statement("migrations/type_name"), {"oid": oids[column]})
            key_types[column] = cur.fetchone()[0]
        cur.execute(predictions_ddl(cfg.predictions, key_types, cfg.task))
    log.info("created predictions table %s (key %s)", table, ", ".join(f"{c} {t}" for c, t in key_types.items()))
    return True


def query_columns(warehouse: Warehouse, cfg: PipelineConfig) -> dict[str, int]:
    """The feature query's result columns (name -> PostgreSQL type OID), described without running it
    (``LIMIT 0``), checked to hold every column the model's config names.

    Raises:
        FeatureTableError: columns are missing; the message names each with its role (``dataset.key``,
            ``dataset.timestamp``, ``dataset.label``, ``dataset.label_known_at``, a feature, ``as_of``)
            and lists what the query returns.
        psycopg2.Error: the query failed.
    """
    from pipeline.features.aggregates import build
    from pipeline.features.build import FeatureTableError, feature_query, window_params
    from pipeline.schedule import CUTOFF_COLUMN

    ds = cfg.dataset
    with warehouse.transaction() as cur:
        for aggregate in ds.aggregates:  # an empty build creates the aggregate tables the query reads
            build(cur, aggregate, aggregate.origin, aggregate.origin)
        cur.execute(
            statement("io/describe_query", query=feature_query(ds)), window_params(cfg.cutoff_rule, *_DESCRIBE_WINDOW)
        )
        oids = {col.name: col.type_code for col in cur.description}
    roles = {c: "dataset.key" for c in ds.key}
    roles |= {ds.timestamp: "dataset.timestamp", CUTOFF_COLUMN: "the cutoff column"}
    roles |= {ds.label: "dataset.label", ds.label_known_at: "dataset.label_known_at"}
    roles |= {c: "dataset.numeric_features" for c in ds.numeric_features}
    roles |= {c: "dataset.categorical_features" for c in ds.categorical_features}
    missing = [f"{column!r} ({role})" for column, role in roles.items() if column not in oids]
    if missing:
        raise FeatureTableError(
            f"{ds.sql_path.name} returns no column {', '.join(missing)} of {cfg.model.name}'s config ({cfg.source}); "
            f"it returns {list(oids)}. Fix the name in the config or the query."
        )
    return oids


def _check_predictions_shape(warehouse: Warehouse, cfg: PipelineConfig) -> None:
    """Raise SchemaError when an existing predictions table lacks a column this model writes."""
    from pipeline.data.predictions import column_names

    table = cfg.predictions.table
    present = {row["column_name"] for row in warehouse.fetch("migrations/table_columns", {"table": table})}
    missing = [c for c in column_names(cfg.dataset.key, cfg.task) if c not in present]
    if missing:
        raise SchemaError(
            f"the predictions table {table} has no column(s) {missing}: it was made for another key or task than "
            f"{cfg.model.name}'s ({cfg.source}). Point predictions.table at a new table, or migrate this one."
        )


def require_current(warehouse: Warehouse) -> None:
    """Check, without changing anything, that the warehouse is at this code's head revision.

    Raises:
        SchemaError: naming the revisions and ``pipeline db upgrade`` as the fix.
    """
    current = current_revision(warehouse)
    if current != head():
        raise SchemaError(
            f"the warehouse's ml schema is at revision {current or 'none (never migrated)'}, this code needs "
            f"{head()}: run `pipeline db upgrade` (make warehouse)"
        )


def execute(conn, name: str) -> None:
    """Execute ``sql/migrations/<name>.sql`` (no parameters) on a SQLAlchemy connection."""
    conn.exec_driver_sql(statement(f"migrations/{name}").as_string(conn.connection.dbapi_connection))


def run_sql(name: str) -> None:
    """Execute ``sql/migrations/<name>.sql`` inside the running revision (for revision modules)."""
    from alembic import op

    execute(op.get_bind(), name)
