SELECT * FROM ml.model_versions WHERE model_name = %(model_name)s AND status = 'champion'
