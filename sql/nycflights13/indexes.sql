-- The indexes the flight model's feature query reads through (docs/warehouse.md, "Indexes"): the
-- scheduled hour (the scored window, the last 30 hours of events, the congestion counts) and an
-- aircraft's flights in schedule order (its previous departure). Created on every seed, so a warehouse
-- seeded before an index existed gets it.
CREATE INDEX IF NOT EXISTS flights_time_hour_idx ON nycflights13.flights (time_hour);
CREATE INDEX IF NOT EXISTS flights_tailnum_schedule_idx ON nycflights13.flights (tailnum, time_hour, minute, flight_id)
