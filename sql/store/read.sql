-- The feature table of [store_start, end): the stored rows of [store_start, store_end), then the feature
-- query's rows of [store_end, end) computed now (its bind parameters start = store_end, end, lead, horizon,
-- origin), by timestamp and key. store_start and store_end are reserved: a feature query must not use them.
SELECT * FROM (
    SELECT * FROM {table} WHERE {timestamp} >= %(store_start)s AND {timestamp} < %(store_end)s
    UNION ALL
    SELECT * FROM (
{query}
    ) AS live
) AS q
ORDER BY {order}
