SELECT version, status, decision, decision_reason, metrics, baseline_metrics, holdout_start, holdout_end,
       train_rows, artifact_uri
FROM ml.model_versions
WHERE model_name = %(model_name)s
ORDER BY version
