INSERT INTO ml.model_versions (
    model_name, version, status, metrics, baseline_metrics, params,
    train_start, train_end, holdout_start, holdout_end, train_rows, holdout_rows,
    training_data_sha256, training_data_uri, validation_uri, model_sha256, artifact_uri, config,
    code_version, sklearn_version, python_version, dag_id, run_id, dag_version, reproduces_version,
    feature_sql, feature_sql_sha256, expectation_suites, config_sha256
) VALUES (
    %(model_name)s, %(version)s, 'pending', %(metrics)s, %(baseline_metrics)s, %(params)s,
    %(train_start)s, %(train_end)s, %(holdout_start)s, %(holdout_end)s, %(train_rows)s, %(holdout_rows)s,
    %(training_data_sha256)s, %(training_data_uri)s, %(validation_uri)s, %(model_sha256)s, %(artifact_uri)s, %(config)s,
    %(code_version)s, %(sklearn_version)s, %(python_version)s, %(dag_id)s, %(run_id)s, %(dag_version)s,
    %(reproduces_version)s, %(feature_sql)s, %(feature_sql_sha256)s, %(expectation_suites)s, %(config_sha256)s
)
