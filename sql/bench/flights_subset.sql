-- The first copies of a scaled flights table, as a view: flight_id < %(max_key)s.
CREATE OR REPLACE VIEW {view} AS SELECT * FROM {table} WHERE flight_id < %(max_key)s
