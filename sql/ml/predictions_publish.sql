-- Publish what this run staged for one interval, then clear its staging rows. Runs in one transaction
-- under the model's publish lock, so readers see the old rows or the new ones, never a mix. First
-- removed: every row of the model for an entity staged now, whichever interval wrote it (a longer,
-- shorter or overlapping one: the entity's timestamp falls in this interval, so the rows are for the
-- same entity), then every row published before for exactly this interval. An entity thus keeps one
-- row per model version however intervals are cut, and a rerun, retry or backfill never duplicates
-- rows. The column list is the table's.
DELETE FROM {table} AS t
USING (
    SELECT DISTINCT {key}
    FROM {staging}
    WHERE run_id = %(run_id)s AND model_name = %(model_name)s
      AND data_interval_start = %(start)s AND data_interval_end = %(end)s
) AS s
WHERE t.model_name = %(model_name)s AND {entity_join};
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
