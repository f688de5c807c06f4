-- The columns of a (schema-qualified) table.
SELECT a.attname AS column_name
FROM pg_attribute AS a
WHERE a.attrelid = to_regclass(%(table)s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
