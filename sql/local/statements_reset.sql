-- Start counting statements afresh (pg_stat_statements, loaded by the local cluster): the extension in
-- this database, then its counters zeroed for every database.
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
SELECT pg_stat_statements_reset();
