-- Mark a table as created by seed: the table's comment is seed's marker (it lives and dies with the table).
COMMENT ON TABLE {table} IS %(marker)s;
