-- Rollback: an earlier valid version becomes champion again (its decision fields keep their history).
UPDATE ml.model_versions SET status = 'champion'
WHERE model_name = %(model_name)s AND version = %(version)s AND status IN ('candidate', 'archived')
