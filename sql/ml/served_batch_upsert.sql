-- The feature batch a run published its predictions from; a republish of the run replaces the row.
INSERT INTO ml.served_batches AS b (
    model_name, run_id, data_interval_start, data_interval_end, as_of, window_start, window_end, manifest, rows
)
VALUES (
    %(model_name)s, %(run_id)s, %(start)s, %(end)s, %(end)s, %(window_start)s, %(window_end)s, %(manifest)s,
    %(batch_rows)s
)
ON CONFLICT (model_name, run_id) DO UPDATE
SET data_interval_start = EXCLUDED.data_interval_start,
    data_interval_end   = EXCLUDED.data_interval_end,
    as_of               = EXCLUDED.as_of,
    window_start        = EXCLUDED.window_start,
    window_end          = EXCLUDED.window_end,
    manifest            = EXCLUDED.manifest,
    rows                = EXCLUDED.rows,
    published_at        = now()
