-- Replace one interval's predictions with what this run staged, then clear the staging rows. Runs in
-- one transaction after an advisory lock on the interval, so readers see the old rows or the new
-- ones, never a mix, and a rerun, retry or backfill never duplicates rows. The column list is the table's.
DELETE FROM {table}
WHERE model_name = %(model_name)s AND data_interval_start = %(start)s AND data_interval_end = %(end)s;
INSERT INTO {table} ({columns})
SELECT {columns}
FROM {staging}
WHERE run_id = %(run_id)s AND model_name = %(model_name)s
  AND data_interval_start = %(start)s AND data_interval_end = %(end)s;
DELETE FROM {staging}
WHERE run_id = %(run_id)s AND model_name = %(model_name)s
  AND data_interval_start = %(start)s AND data_interval_end = %(end)s
