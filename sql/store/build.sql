-- Rebuild the store's rows of the entities stamped in [start, end): delete them, then insert the feature
-- query's rows of that window (its bind parameters start, end, lead, horizon, origin), and only those. The
-- query is MATERIALIZED so that the filter is not pushed into it, where it would change its plan (it made a
-- month of flights take twice as long).
DELETE FROM {table} WHERE {timestamp} >= %(start)s AND {timestamp} < %(end)s;
WITH q AS MATERIALIZED (
{query}
)
INSERT INTO {table}
SELECT * FROM q WHERE {timestamp} >= %(start)s AND {timestamp} < %(end)s
