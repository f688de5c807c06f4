UPDATE ml.model_versions SET status = %(status)s
WHERE model_name = %(model_name)s AND version = %(version)s AND status = %(from_status)s
