-- A model's predictions: rows, data intervals, the first and last cutoff (as_of), and the smallest
-- gap between a run's cutoff and the start of the window it scored (at least the lead for every row).
SELECT count(*) AS row_count, count(DISTINCT (data_interval_start, data_interval_end)) AS intervals,
       min(data_interval_start) AS first_start, max(data_interval_end) AS last_end,
       min(as_of) AS first_as_of, max(as_of) AS last_as_of, min(window_start - as_of) AS min_lead
FROM {table}
WHERE model_name = %(model_name)s
