-- The columns of one table and their type category (pg_type.typcategory: N numeric, S string,
-- B boolean, D date and time), for the leakage check's changes.
SELECT a.attname                             AS column_name,
       format_type(a.atttypid, a.atttypmod)  AS type_name,
       t.typcategory                         AS category
FROM pg_attribute AS a
JOIN pg_type AS t ON t.oid = a.atttypid
WHERE a.attrelid = to_regclass(%(table)s)
  AND a.attnum > 0
  AND NOT a.attisdropped
