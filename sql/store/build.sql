-- Rebuild the store's rows of the entities stamped in [store_start, end): delete them, then insert the
-- feature query's result for that window (bind parameters start = store_start, end, lead, horizon, origin).
DELETE FROM {table} WHERE {timestamp} >= %(start)s AND {timestamp} < %(end)s;
INSERT INTO {table} SELECT * FROM (
{query}
) AS q
