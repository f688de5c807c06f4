-- Forget what this run staged for one partition of the interval (a retry of the partition), and for
-- any partition number the current plan does not have (left by an attempt planned with more partitions).
DELETE FROM {staging}
WHERE run_id = %(run_id)s AND model_name = %(model_name)s
  AND data_interval_start = %(start)s AND data_interval_end = %(end)s
  AND (partition = %(partition)s OR partition >= %(partitions)s)
