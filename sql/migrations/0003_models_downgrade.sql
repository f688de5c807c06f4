-- Downgrade of revision 0003. The `prediction` columns stay (a classifier's equal `score`; dropping
-- them would lose a regression's predictions), but may be NULL again, so that the older code, which
-- does not write them, can publish. validation_results returns to one row per
-- (dag_id, run_id, batch_kind): the newest attempt of each is kept.
DELETE FROM ml.validation_results AS v
USING ml.validation_results AS newer
WHERE newer.dag_id = v.dag_id AND newer.run_id = v.run_id AND newer.batch_kind = v.batch_kind
  AND newer.id > v.id;
ALTER TABLE ml.validation_results DROP CONSTRAINT IF EXISTS validation_results_pkey;
DROP INDEX IF EXISTS ml.validation_results_run;
ALTER TABLE ml.validation_results DROP COLUMN IF EXISTS id, DROP COLUMN IF EXISTS model_name;
ALTER TABLE ml.validation_results ADD PRIMARY KEY (dag_id, run_id, batch_kind);
ALTER TABLE ml.model_versions DROP COLUMN IF EXISTS feature_sql, DROP COLUMN IF EXISTS config_sha256;
ALTER TABLE ml.retrain_triggers DROP COLUMN IF EXISTS evidence;
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN
        SELECT c.conrelid::regclass::text
        FROM pg_constraint AS c
        WHERE c.contype = 'f'
          AND c.confrelid = 'ml.model_versions'::regclass
          AND c.conrelid <> 'ml.champion_history'::regclass
          AND EXISTS (SELECT 1 FROM pg_attribute AS a
                      WHERE a.attrelid = c.conrelid AND a.attname = 'prediction' AND NOT a.attisdropped)
    LOOP
        EXECUTE 'ALTER TABLE ' || t || ' ALTER COLUMN prediction DROP NOT NULL';
    END LOOP;
END
$$;
