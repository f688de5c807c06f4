-- Feature table for the flight-delay model: one row per flight scheduled in [start, end).
-- Only what is known before scheduled departure: the schedule, the route, the plane, and the
-- weather observed at the origin airport in the scheduled hour. Label: departure delayed more
-- than 15 minutes; NULL for cancelled flights (no dep_delay).
SELECT
    f.flight_id,
    f.time_hour + make_interval(mins => f.minute)                        AS scheduled_departure,
    date_bin(%(horizon)s, f.time_hour + make_interval(mins => f.minute) - %(lead)s, %(origin)s) AS as_of,
    f.month,
    extract(isodow FROM f.time_hour AT TIME ZONE 'America/New_York')::int AS day_of_week,
    f.hour                                                                AS sched_dep_hour,
    f.distance,
    w.temp,
    w.dewp,
    w.humid,
    w.wind_dir,
    w.wind_speed,
    w.wind_gust,
    w.precip,
    w.pressure,
    w.visib,
    (f.year - p.year)::double precision                                   AS plane_age,
    p.seats::double precision                                             AS seats,
    p.engines::double precision                                           AS engines,
    f.carrier,
    f.origin,
    f.dest,
    CASE WHEN f.dep_delay IS NULL THEN NULL
         WHEN f.dep_delay > 15 THEN 1 ELSE 0 END::smallint               AS dep_delayed_15,
    CASE WHEN f.dep_delay IS NOT NULL THEN
        f.time_hour + make_interval(mins => f.minute) + least(f.dep_delay, 15) * interval '1 minute'
    END                                                                   AS label_known_at
FROM nycflights13.flights AS f
LEFT JOIN nycflights13.weather AS w ON w.origin = f.origin AND w.time_hour = f.time_hour
LEFT JOIN nycflights13.planes AS p ON p.tailnum = f.tailnum
WHERE f.time_hour > %(start)s::timestamptz - interval '1 hour'  -- lets the time_hour index serve the window
  AND f.time_hour < %(end)s::timestamptz
  AND f.time_hour + make_interval(mins => f.minute) >= %(start)s::timestamptz
  AND f.time_hour + make_interval(mins => f.minute) < %(end)s::timestamptz
ORDER BY scheduled_departure, f.flight_id
