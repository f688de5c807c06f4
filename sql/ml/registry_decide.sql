UPDATE ml.model_versions
SET status = %(status)s, decision = %(decision)s, decision_reason = %(reason)s,
    champion_metric = %(champion_metric)s, decision_evidence = %(evidence)s, decided_at = now()
WHERE model_name = %(model_name)s AND version = %(version)s AND status = 'candidate' AND decision IS NULL
