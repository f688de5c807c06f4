INSERT INTO ml.champion_history (
    model_name, old_version, new_version, valid_from, reason, actor, detail, metric, new_metric, old_metric
) VALUES (
    %(model_name)s, %(old_version)s, %(new_version)s, %(valid_from)s, %(reason)s, %(actor)s, %(detail)s,
    %(metric)s, %(new_metric)s, %(old_metric)s
)
