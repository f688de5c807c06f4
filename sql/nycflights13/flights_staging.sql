-- Session-local landing table for flights.csv, dropped at commit.
CREATE TEMP TABLE flights_staging (LIKE nycflights13.flights) ON COMMIT DROP;
ALTER TABLE flights_staging DROP COLUMN flight_id;
