-- Logical time of the last requested retrain before this interval (for the cooldown).
SELECT max(data_interval_end) AS last_trigger
FROM ml.retrain_triggers
WHERE model_name = %(model_name)s AND retrain AND data_interval_end < %(end)s
