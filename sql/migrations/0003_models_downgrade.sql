-- Downgrade of revision 0003. The `prediction` columns stay (a classifier's equal `score`; dropping
-- them would lose a regression's predictions). validation_results returns to one row per
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
