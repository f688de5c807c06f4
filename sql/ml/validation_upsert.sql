INSERT INTO ml.validation_results (
    dag_id, run_id, batch_kind, suite_name, data_interval_start, data_interval_end, row_count,
    success, evaluated, failed, failed_expectations, artifact_uri
) VALUES (
    %(dag_id)s, %(run_id)s, %(batch_kind)s, %(suite_name)s, %(start)s, %(end)s, %(row_count)s,
    %(success)s, %(evaluated)s, %(failed)s, %(failed_expectations)s, %(artifact_uri)s
)
ON CONFLICT (dag_id, run_id, batch_kind) DO UPDATE SET
    suite_name = EXCLUDED.suite_name, data_interval_start = EXCLUDED.data_interval_start,
    data_interval_end = EXCLUDED.data_interval_end, row_count = EXCLUDED.row_count,
    success = EXCLUDED.success, evaluated = EXCLUDED.evaluated, failed = EXCLUDED.failed,
    failed_expectations = EXCLUDED.failed_expectations, artifact_uri = EXCLUDED.artifact_uri,
    validated_at = now()
