-- One validation attempt of a batch, pass or fail: never updated, so a failed attempt stays on record
-- next to the retry that passed.
INSERT INTO ml.validation_results (
    model_name, dag_id, run_id, batch_kind, suite_name, data_interval_start, data_interval_end, row_count,
    success, evaluated, failed, failed_expectations, artifact_uri
) VALUES (
    %(model_name)s, %(dag_id)s, %(run_id)s, %(batch_kind)s, %(suite_name)s, %(start)s, %(end)s, %(row_count)s,
    %(success)s, %(evaluated)s, %(failed)s, %(failed_expectations)s, %(artifact_uri)s
)
