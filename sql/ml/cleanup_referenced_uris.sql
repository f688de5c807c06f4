-- Every artifact URI that a registry or validation record of one model points at (a version's folder,
-- its training snapshot and validation file; each validation attempt's result). Cleanup never removes these.
SELECT artifact_uri AS uri FROM ml.model_versions WHERE model_name = %(model_name)s
UNION SELECT training_data_uri FROM ml.model_versions WHERE model_name = %(model_name)s
UNION SELECT validation_uri FROM ml.model_versions WHERE model_name = %(model_name)s
UNION SELECT artifact_uri FROM ml.validation_results WHERE model_name = %(model_name)s
