-- The versions a rollback form offers (and the champion, named in its description): newest first,
-- with the promotion metric measured on each version's holdout.
SELECT version, status, (metrics ->> %(metric)s)::double precision AS metric, holdout_end
FROM ml.model_versions
WHERE model_name = %(model_name)s AND status IN ('candidate', 'archived', 'champion')
ORDER BY version DESC
