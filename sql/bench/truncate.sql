-- Empty a table (the write benchmark's target between runs).
TRUNCATE {table}
