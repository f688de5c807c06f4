-- Feature table for the origin_hourly_delay regression: one row per origin airport and scheduled
-- hour slot that starts in [start, end). Key: (origin, slot_start). Label: the mean departure delay,
-- in minutes, of the slot's flights that departed; NULL when none did (all cancelled). The 2013 data is
-- complete, so every slot's label is final; a live source would also have to keep it NULL until the
-- slot's last flight has left.
-- Known before the slot starts: the schedule (how many flights, carriers and destinations, how far they
-- go), the calendar, and the weather observed at the origin in the slot's hour (the same source as
-- the flight-delay model).
WITH slots AS (
    SELECT f.origin,
           f.time_hour                                  AS slot_start,
           min(f.month)                                 AS month,
           count(*)::double precision                   AS scheduled_flights,
           count(DISTINCT f.carrier)::double precision  AS carriers,
           count(DISTINCT f.dest)::double precision     AS destinations,
           avg(f.distance)::double precision            AS mean_distance,
           avg(f.dep_delay)::double precision           AS mean_dep_delay,
           max(f.time_hour + make_interval(mins => f.minute) + f.dep_delay * interval '1 minute') AS last_departure
    FROM nycflights13.flights AS f
    WHERE f.time_hour >= %(start)s::timestamptz
      AND f.time_hour < %(end)s::timestamptz
    GROUP BY f.origin, f.time_hour
)
SELECT
    s.origin,
    s.slot_start,
    s.slot_start                                                            AS slot_time,
    date_bin(%(horizon)s, s.slot_start - %(lead)s, %(origin)s)              AS as_of,
    s.month,
    extract(isodow FROM s.slot_start AT TIME ZONE 'America/New_York')::int  AS day_of_week,
    extract(hour FROM s.slot_start AT TIME ZONE 'America/New_York')::int    AS slot_hour,
    s.scheduled_flights,
    s.carriers,
    s.destinations,
    s.mean_distance,
    w.temp,
    w.humid,
    w.wind_speed,
    w.wind_gust,
    w.precip,
    w.pressure,
    w.visib,
    s.mean_dep_delay,
    CASE WHEN s.mean_dep_delay IS NOT NULL THEN
        greatest(s.last_departure, s.slot_start + interval '1 hour')
    END                                                                     AS label_known_at
FROM slots AS s
LEFT JOIN LATERAL (
    SELECT temp, humid, wind_speed, wind_gust, precip, pressure, visib
    FROM nycflights13.weather AS w
    WHERE w.origin = s.origin AND w.time_hour = s.slot_start
    LIMIT 1
) AS w ON true
ORDER BY s.slot_start, s.origin
