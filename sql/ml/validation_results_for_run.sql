SELECT * FROM ml.validation_results WHERE run_id = %(run_id)s ORDER BY batch_kind, id
