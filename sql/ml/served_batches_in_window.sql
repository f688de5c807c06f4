-- The feature batches of a model's published predict runs whose scored window lies inside [start, end),
-- the latest published first: where two runs scored one entity (overlapping windows, or reruns of one
-- cutoff under different run ids), the later publish is the one its prediction row comes from.
SELECT run_id, as_of, window_start, window_end, manifest, rows, published_at
FROM ml.served_batches
WHERE model_name = %(model_name)s AND window_start >= %(start)s AND window_end <= %(end)s
ORDER BY published_at DESC, run_id DESC
