-- (Re)create a feature store table, empty, with the columns and types of the feature query's result (not
-- run: WITH NO DATA), an index on the entity timestamp for the range reads, and the comment that marks it as
-- the pipeline's.
CREATE SCHEMA IF NOT EXISTS {schema};
DROP TABLE IF EXISTS {table};
CREATE TABLE {table} AS SELECT * FROM (
{query}
) AS q WITH NO DATA;
CREATE INDEX ON {table} ({timestamp});
COMMENT ON TABLE {table} IS {comment}
