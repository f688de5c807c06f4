SELECT count(*) AS row_count, count(DISTINCT (data_interval_start, data_interval_end)) AS intervals,
       min(data_interval_start) AS first_start, max(data_interval_end) AS last_end
FROM {table}
WHERE model_name = %(model_name)s
