-- Every deployed predictions table: the tables with a foreign key to ml.model_versions, but the
-- champion history. A revision that changes the predictions tables' shape alters each of these.
SELECT c.conrelid::regclass::text AS table_name
FROM pg_constraint AS c
WHERE c.contype = 'f'
  AND c.confrelid = 'ml.model_versions'::regclass
  AND c.conrelid <> 'ml.champion_history'::regclass
ORDER BY 1
