-- The relations in the seed's schema that bear a seed table's name, and whether seed created each one:
-- an ordinary table whose comment is exactly seed's marker. Anything else there (a user's table, view,
-- sequence...) is not seed's to truncate.
SELECT c.relname AS table_name,
       c.relkind = 'r' AND coalesce(obj_description(c.oid, 'pg_class') = %(marker)s, false) AS created_by_seed
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relname::text = ANY(%(tables)s)
ORDER BY c.relname;
