-- Remove one monitor interval's results before writing them again (same transaction); one statement.
-- In ml.model_performance these are the rows this interval measured last (a later run's stay).
WITH drift AS (
    DELETE FROM ml.feature_drift
    WHERE model_name = %(model_name)s AND data_interval_start = %(start)s AND data_interval_end = %(end)s
), performance AS (
    DELETE FROM ml.model_performance
    WHERE model_name = %(model_name)s AND data_interval_start = %(start)s AND data_interval_end = %(end)s
)
DELETE FROM ml.retrain_triggers
WHERE model_name = %(model_name)s AND data_interval_start = %(start)s AND data_interval_end = %(end)s
