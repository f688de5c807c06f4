-- Alembic's version table lives in the ml schema.
CREATE SCHEMA IF NOT EXISTS ml
