-- Delete one model's staged predictions written before the cutoff: rows of predict runs that crashed
-- or were killed before publishing (a publish clears its own rows). predicted_at is when a row was staged.
WITH gone AS (
    DELETE FROM {staging}
    WHERE model_name = %(model_name)s AND predicted_at < %(cutoff)s
    RETURNING 1
)
SELECT count(*) AS row_count FROM gone
