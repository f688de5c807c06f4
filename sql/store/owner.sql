-- Whether the store's table exists, and its comment: the pipeline marks the tables it creates, and drops no other.
SELECT to_regclass(%(table)s) IS NOT NULL AS present, obj_description(to_regclass(%(table)s), 'pg_class') AS comment
