-- The SQL name of a type OID (as a query's result description gives it), e.g. bigint, text, date.
SELECT format_type(%(oid)s, NULL) AS type_name
