UPDATE ml.model_versions SET status = 'archived'
WHERE model_name = %(model_name)s AND status = 'champion'
