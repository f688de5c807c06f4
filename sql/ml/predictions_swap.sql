-- Replace one interval's predictions with the staged batch. Runs in the caller's transaction, after
-- an advisory lock on the interval, so readers see the old rows or the new ones, never a mix.
DELETE FROM {table}
WHERE model_name = %(model_name)s
  AND data_interval_start = %(start)s
  AND data_interval_end = %(end)s;
INSERT INTO {table} SELECT * FROM predictions_staging;
