-- Every row and column of a table: the extraction benchmark's query.
SELECT * FROM {table}
