-- The feature query's rows, all computed (no period of the window is final yet), in the order the store
-- returns rows: by timestamp and key.
SELECT * FROM (
{query}
) AS q
ORDER BY {order}
