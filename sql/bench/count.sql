-- Row count of a table.
SELECT count(*) AS row_count FROM {table}
