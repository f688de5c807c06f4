-- The version that was champion at logical time %(at)s, with the reason it became champion.
SELECT model_name, version, reason, actor, valid_from, valid_to, detail
FROM ml.champion_periods
WHERE model_name = %(model_name)s AND valid_from <= %(at)s AND (valid_to IS NULL OR %(at)s < valid_to)
