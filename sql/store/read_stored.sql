-- The feature table of [store_start, store_end), all of it stored, in order of timestamp and key.
SELECT * FROM {table} WHERE {timestamp} >= %(store_start)s AND {timestamp} < %(store_end)s ORDER BY {order}
