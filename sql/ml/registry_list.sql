-- Every version of a model with its decision, holdout metrics, artifacts and lineage (the suites' file
-- and SHA-256 only: their JSON stays in the registry).
SELECT version, status, decision, decision_reason, decision_evidence, decided_at, metrics, baseline_metrics,
       holdout_start, holdout_end, train_rows, artifact_uri, dag_id, run_id, code_version, training_data_uri,
       training_data_sha256, validation_uri, feature_sql_sha256, reproduces_version,
       (SELECT jsonb_object_agg(kind, suite - 'suite') FROM jsonb_each(expectation_suites) AS s(kind, suite))
           AS expectation_suites
FROM ml.model_versions
WHERE model_name = %(model_name)s
ORDER BY version
