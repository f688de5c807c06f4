-- Executions, in this database since the last reset, of a feature query: the COPY ... TO STDOUT
-- statements (how the pipeline reads a feature table; sql/io/copy_query_out.sql) whose text holds the
-- query's first line.
SELECT coalesce(sum(calls), 0)::bigint AS calls
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND strpos(query, ') TO STDOUT') > 0
  AND strpos(query, %(marker)s) > 0
