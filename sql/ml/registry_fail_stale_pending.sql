-- Fail the versions a killed retrain left pending: reserved before the cutoff, artifacts never finished.
UPDATE ml.model_versions
SET status = 'failed', decision_reason = %(reason)s
WHERE model_name = %(model_name)s AND status = 'pending' AND created_at < %(cutoff)s
RETURNING version, created_at
