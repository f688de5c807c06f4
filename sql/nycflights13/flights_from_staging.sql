INSERT INTO nycflights13.flights
SELECT row_number() OVER (ORDER BY year, month, day, sched_dep_time, carrier, flight, origin) AS flight_id, s.*
FROM flights_staging AS s;
