-- The version a run registered (a retrain's run id) or made champion (a rollback's actor, "<dag id>/<run id>").
SELECT version FROM ml.model_versions WHERE model_name = %(model_name)s AND run_id = %(run_id)s
UNION ALL
SELECT new_version FROM ml.champion_history WHERE model_name = %(model_name)s AND actor = %(actor)s
ORDER BY version DESC
LIMIT 1
