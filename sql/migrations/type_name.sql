-- The SQL name of a type OID (as a query's result description gives it), e.g. bigint, text, date;
-- without a length (typmod -1), so a char(n) or varchar(n) key column becomes bpchar or varchar.
SELECT format_type(%(oid)s, -1) AS type_name
