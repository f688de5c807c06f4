-- Predictions made for intervals inside [start, end), every version, with the entity key's columns.
SELECT {key}, model_version, is_champion, prediction
FROM {table}
WHERE model_name = %(model_name)s AND data_interval_start >= %(start)s AND data_interval_end <= %(end)s
