INSERT INTO ml.model_versions (
    model_name, version, status, metrics, baseline_metrics, params,
    train_start, train_end, holdout_start, holdout_end, train_rows, holdout_rows,
    training_data_sha256, model_sha256, artifact_uri, code_version, dag_id, run_id
) VALUES (
    %(model_name)s, %(version)s, 'pending', %(metrics)s, %(baseline_metrics)s, %(params)s,
    %(train_start)s, %(train_end)s, %(holdout_start)s, %(holdout_end)s, %(train_rows)s, %(holdout_rows)s,
    %(training_data_sha256)s, %(model_sha256)s, %(artifact_uri)s, %(code_version)s, %(dag_id)s, %(run_id)s
)
