SELECT count(DISTINCT partition) AS partitions, count(*) AS row_count
FROM {staging}
WHERE run_id = %(run_id)s AND model_name = %(model_name)s
  AND data_interval_start = %(start)s AND data_interval_end = %(end)s
