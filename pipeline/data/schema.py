"""The warehouse's ``ml`` schema, created and upgraded by Alembic revisions (``pipeline db upgrade``).

Revisions live in ``pipeline/data/migrations/versions/``; their SQL in ``sql/migrations/``. Alembic's
version table is ``ml.alembic_version``. Revision 0001 is the schema as the pipeline created it before
migrations, written with ``IF NOT EXISTS``, so a warehouse made by that code is adopted in place.

Each configured model's predictions table (with its staging table and views) is created at the head
shape by :func:`upgrade` when it is missing; its key column takes the type the feature query returns.
A revision that changes the predictions tables alters every deployed one
(``sql/migrations/predictions_table_list.sql`` lists them).

Tasks never run DDL: they call :func:`require_current`, which only reads.

Writing a revision: add ``sql/migrations/NNNN_<name>.sql`` and
``pipeline/data/migrations/versions/NNNN_<name>.py`` with ``revision = "NNNN"``,
``down_revision`` = the previous one, and ``upgrade()`` calling ``run_sql("NNNN_<name>")``.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import cache
from pathlib import Path

from psycopg2 import sql

from pipeline.config import PipelineConfig, PredictionsConfig
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


def upgrade(warehouse: Warehouse, cfg: PipelineConfig, revision: str = "head") -> str:
    """Upgrade the ``ml`` schema to ``revision`` and create the model's predictions table if missing.

    One transaction under an advisory lock: concurrent upgrades wait for each other, and a failed one
    changes nothing. Idempotent.

    The predictions table's key column takes the type the feature query returns for
    ``dataset.key`` (``bigint``, ``text``, ``date``...). When the feature query cannot run yet (its
    source tables are not loaded), the ``ml`` schema is still upgraded and a warning says the table
    was left for the next upgrade.

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
        _provision_predictions(conn, cfg)
    now = current_revision(warehouse)
    log.info("ml schema: %s -> %s", before or "empty", now)
    return now


def _provision_predictions(conn, cfg: PipelineConfig) -> None:
    """Create the model's predictions table, staging table and views unless they exist."""
    from pipeline.features.build import feature_query, window_params

    ds, table = cfg.dataset, cfg.predictions.table
    cur = conn.connection.dbapi_connection.cursor()
    cur.execute(statement("migrations/table_exists"), {"table": table})
    if cur.fetchone()[0]:
        return
    cur.execute("SAVEPOINT describe_features")
    try:
        cur.execute(statement("io/describe_query", query=feature_query(ds)), window_params(*_DESCRIBE_WINDOW))
    except Exception as exc:  # noqa: BLE001 - reported, and the table is left for the next upgrade
        cur.execute("ROLLBACK TO SAVEPOINT describe_features")
        log.warning(
            "predictions table %s not created: the feature query %s cannot run yet (%s); "
            "run `pipeline db upgrade` again once its source tables exist",
            table,
            ds.sql_path.name,
            str(exc).strip().splitlines()[0],
        )
        return
    oid = next((col.type_code for col in cur.description if col.name == ds.key), None)
    if oid is None:
        raise SchemaError(f"{ds.sql_path.name} returns no key column {ds.key!r}: cannot create {table}")
    cur.execute(statement("migrations/type_name"), {"oid": oid})
    key_type = cur.fetchone()[0]
    cur.execute(predictions_ddl(cfg.predictions, ds.key, key_type))
    log.info("created predictions table %s (key %s %s)", table, ds.key, key_type)


def predictions_ddl(predictions: PredictionsConfig, key: str, key_type: str) -> sql.Composed:
    """The statements that create a predictions table at the head shape (``IF NOT EXISTS``), with
    its staging table and views, for an entity key of SQL type ``key_type`` (e.g. ``bigint``)."""
    from pipeline.models.predict import table_names

    return statement("migrations/predictions_tables", **table_names(predictions, key), key_type=sql.SQL(key_type))


def require_current(warehouse: Warehouse, cfg: PipelineConfig) -> None:
    """Check, without changing anything, that the warehouse is at this code's head revision and
    has the model's predictions table.

    Raises:
        SchemaError: naming what is missing and ``pipeline db upgrade`` as the fix.
    """
    current = current_revision(warehouse)
    if current != head():
        raise SchemaError(
            f"the warehouse's ml schema is at revision {current or 'none (never migrated)'}, this code needs "
            f"{head()}: run `pipeline db upgrade` (make warehouse)"
        )
    if not warehouse.fetch("migrations/table_exists", {"table": cfg.predictions.table})[0]["present"]:
        raise SchemaError(
            f"the predictions table {cfg.predictions.table} does not exist: run `pipeline db upgrade` "
            "(make warehouse) once the feature query's source tables are loaded"
        )


def execute(conn, name: str) -> None:
    """Execute ``sql/migrations/<name>.sql`` (no parameters) on a SQLAlchemy connection."""
    conn.exec_driver_sql(statement(f"migrations/{name}").as_string(conn.connection.dbapi_connection))


def run_sql(name: str) -> None:
    """Execute ``sql/migrations/<name>.sql`` inside the running revision (for revision modules)."""
    from alembic import op

    execute(op.get_bind(), name)
