-- Predictions made for entities inside [start, end): the runs whose scored window lies in it (a run cut
-- off at T scored [T + lead, T + lead + horizon)), every version, with the entity key's columns.
SELECT {key}, model_version, is_champion, prediction
FROM {table}
WHERE model_name = %(model_name)s AND window_start >= %(start)s AND window_end <= %(end)s
