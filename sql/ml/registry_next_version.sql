SELECT coalesce(max(version), 0) + 1 AS version FROM ml.model_versions WHERE model_name = %(model_name)s
