-- Every monitor run's feature and prediction drift by PSI (the metric the trigger votes with).
SELECT data_interval_end, feature, kind, value, threshold, drifted
FROM ml.feature_drift
WHERE model_name = %(model_name)s AND metric = 'psi'
ORDER BY data_interval_end, kind, feature
