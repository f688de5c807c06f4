-- Rebuild the store's rows of the entities stamped in [start, end): delete them, then insert the feature
-- query's rows of that window (its bind parameters start, end, lead, horizon, origin), and only those.
DELETE FROM {table} WHERE {timestamp} >= %(start)s AND {timestamp} < %(end)s;
INSERT INTO {table}
SELECT * FROM (
{query}
) AS q
WHERE {timestamp} >= %(start)s AND {timestamp} < %(end)s
