-- The served batch of a model's run (run_id), or the one published last for a cutoff (as_of).
SELECT model_name, run_id, data_interval_start, data_interval_end, as_of, window_start, window_end,
       manifest, rows, published_at
FROM ml.served_batches
WHERE model_name = %(model_name)s
  AND (%(run_id)s::text IS NULL OR run_id = %(run_id)s)
  AND (%(as_of)s::timestamptz IS NULL OR as_of = %(as_of)s)
ORDER BY published_at DESC
LIMIT 1
