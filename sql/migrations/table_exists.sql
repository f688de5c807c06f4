-- Whether a (schema-qualified) table exists.
SELECT to_regclass(%(table)s) IS NOT NULL AS present
