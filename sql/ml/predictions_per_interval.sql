-- A model's champion predictions per data interval, with the run's cutoff and the window it scored.
SELECT data_interval_start, data_interval_end, min(as_of) AS as_of, min(window_start) AS window_start,
       max(window_end) AS window_end, count(*) AS rows
FROM {table}
WHERE model_name = %(model_name)s AND is_champion
GROUP BY data_interval_start, data_interval_end
ORDER BY data_interval_start
