-- The latest monitor decision, with the evidence it rested on.
SELECT t.data_interval_end, t.champion_version, t.retrain, t.suppressed, t.reasons, t.evidence
FROM ml.retrain_triggers AS t
WHERE t.model_name = %(model_name)s
ORDER BY t.data_interval_end DESC
LIMIT 1
