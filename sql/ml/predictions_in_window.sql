-- Predictions made for intervals inside [start, end), every version.
SELECT {key}, model_version, is_champion, score
FROM {table}
WHERE model_name = %(model_name)s AND data_interval_start >= %(start)s AND data_interval_end <= %(end)s
