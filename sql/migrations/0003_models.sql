-- Revision 0003: many models in one warehouse.
--
-- 1. ml.validation_results is keyed by model, and each validation attempt is its own row: a failed
--    validation is never overwritten by the rerun that passed, and two models validated in the same
--    run id never touch each other's rows. Rows from before this revision get the model's name when
--    the registry holds exactly one model (a one-model deployment); otherwise it stays NULL (unknown).
ALTER TABLE ml.validation_results
    ADD COLUMN IF NOT EXISTS model_name text,
    ADD COLUMN IF NOT EXISTS id bigint GENERATED ALWAYS AS IDENTITY;
UPDATE ml.validation_results
SET model_name = (SELECT min(model_name) FROM ml.model_versions)
WHERE model_name IS NULL AND (SELECT count(DISTINCT model_name) FROM ml.model_versions) = 1;
ALTER TABLE ml.validation_results DROP CONSTRAINT IF EXISTS validation_results_pkey;
ALTER TABLE ml.validation_results ADD PRIMARY KEY (id);
CREATE INDEX IF NOT EXISTS validation_results_run ON ml.validation_results (model_name, dag_id, run_id);

-- 2. Lineage: the text of the feature query a version was trained with (its SHA-256 is in
--    feature_sql_sha256), and the SHA-256 of its model config. expectation_suites now holds, per
--    suite kind, the suite's file, SHA-256 and JSON.
ALTER TABLE ml.model_versions
    ADD COLUMN IF NOT EXISTS feature_sql text,
    ADD COLUMN IF NOT EXISTS config_sha256 text;

-- 3. Every predictions table made before this revision gets the task-neutral column `prediction` (a
--    classifier's probability of class 1, which `score` also holds; a regression's predicted value),
--    and so does its staging table. Tables that already have it (made at this shape) are left alone.
--    The statement runs through the driver's parameter formatting: no percent signs.
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
                      WHERE a.attrelid = c.conrelid AND a.attname = 'score' AND NOT a.attisdropped)
          AND NOT EXISTS (SELECT 1 FROM pg_attribute AS a
                          WHERE a.attrelid = c.conrelid AND a.attname = 'prediction' AND NOT a.attisdropped)
    LOOP
        EXECUTE 'ALTER TABLE ' || t || ' ADD COLUMN prediction double precision';
        EXECUTE 'UPDATE ' || t || ' SET prediction = score';
        EXECUTE 'ALTER TABLE ' || t || ' ALTER COLUMN prediction SET NOT NULL';
        IF to_regclass(t || '_staging') IS NOT NULL THEN
            EXECUTE 'ALTER TABLE ' || t || '_staging ADD COLUMN IF NOT EXISTS prediction double precision';
        END IF;
    END LOOP;
END
$$;

-- 4. Each retrain decision keeps its evidence (JSON: the window's rows, the drifted voting features,
--    the realized metric pooled over the window, the score drift), so reports quote the numbers the
--    decision used instead of recomputing them.
ALTER TABLE ml.retrain_triggers ADD COLUMN IF NOT EXISTS evidence jsonb;
