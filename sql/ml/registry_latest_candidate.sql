-- The newest registered version that is not (and was never made) champion.
SELECT * FROM ml.model_versions
WHERE model_name = %(model_name)s AND status = 'candidate'
ORDER BY version DESC
LIMIT 1
