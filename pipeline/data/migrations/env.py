"""Alembic environment: run the revisions on the connection :func:`pipeline.data.schema.upgrade`
passes in (one transaction, under its lock); the version table is ``ml.alembic_version``."""

from alembic import context

from pipeline.data.schema import VERSION_SCHEMA, execute

connection = context.config.attributes["connection"]
if connection is None:
    raise RuntimeError("run migrations through `pipeline db upgrade` (pipeline.data.schema.upgrade)")
execute(connection, "create_schema")
context.configure(connection=connection, version_table_schema=VERSION_SCHEMA, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
