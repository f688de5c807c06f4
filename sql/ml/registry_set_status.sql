-- Move a version from one status to another; reason (NULL but for a failure) says why it failed.
UPDATE ml.model_versions
SET status = %(status)s, decision_reason = coalesce(%(reason)s, decision_reason)
WHERE model_name = %(model_name)s AND version = %(version)s AND status = %(from_status)s
RETURNING version
