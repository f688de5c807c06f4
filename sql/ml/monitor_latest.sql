-- The latest monitor decision with its drift count and the live model's realized ROC AUC.
SELECT t.data_interval_end, t.champion_version, t.retrain, t.suppressed, t.reasons,
       (SELECT count(*) FROM ml.feature_drift d
         WHERE d.model_name = t.model_name AND d.data_interval_end = t.data_interval_end
           AND d.data_interval_start = t.data_interval_start AND d.metric = 'psi' AND d.kind <> 'prediction'
           AND d.drifted) AS drifted,
       (SELECT count(*) FROM ml.feature_drift d
         WHERE d.model_name = t.model_name AND d.data_interval_end = t.data_interval_end
           AND d.data_interval_start = t.data_interval_start AND d.metric = 'psi' AND d.kind <> 'prediction')
           AS features,
       (SELECT avg(p.value) FROM ml.model_performance p
         WHERE p.model_name = t.model_name AND p.data_interval_end = t.data_interval_end
           AND p.data_interval_start = t.data_interval_start AND p.metric = 'roc_auc'
           AND p.model_version = t.champion_version) AS roc_auc
FROM ml.retrain_triggers AS t
WHERE t.model_name = %(model_name)s
ORDER BY t.data_interval_end DESC
LIMIT 1
