SELECT * FROM ml.champion_history WHERE model_name = %(model_name)s ORDER BY valid_from, id
