-- Feature table for the origin_hourly_delay regression: one row per origin airport and scheduled
-- hour slot that starts in [start, end). Key: (origin, slot_start). Label: the mean departure delay,
-- in minutes, of the slot's flights that departed; NULL when none did (all cancelled). It is known
-- when the slot's last flight has left, and not before the slot ends (label_known_at).
--
-- Point in time: each row's cutoff is as_of = date_bin(horizon, slot_start - lead, origin), the
-- cutoff of the predict run that scores the slot, and every feature uses only data known by it, at or
-- before it (docs/features.md, "The regression model"):
-- - the slot's schedule and the next hour's (published in advance), and the calendar;
-- - the origin airport's recent state: departures by the cutoff, in hourly buckets (h, h + 1 hour] of the
--   actual departure that end at or before the cutoff, and the flights overdue at the cutoff;
-- - trailing mean departure delays over 7 and 28 days, and at the slot's hour of day;
-- - the weather as last observed: the row of hour h holds observations up to minute 51, so it is
--   used from h + 1 hour on; each column's latest value in the last 6 rows (older is stale: NULL).
-- The leakage check (pipeline check-leakage) verifies it on sampled cutoffs.
WITH schedule AS (
    SELECT f.origin,
           f.time_hour                                  AS slot_start,
           count(*)::double precision                   AS scheduled_flights,
           count(DISTINCT f.carrier)::double precision  AS carriers,
           count(DISTINCT f.dest)::double precision     AS destinations,
           avg(f.distance)::double precision            AS mean_distance,
           avg(f.dep_delay)::double precision           AS mean_dep_delay,
           max(f.time_hour + make_interval(mins => f.minute) + f.dep_delay * interval '1 minute') AS last_departure
    FROM nycflights13.flights AS f
    WHERE f.time_hour >= %(start)s::timestamptz
      AND f.time_hour < %(end)s::timestamptz + interval '1 hour'
    GROUP BY f.origin, f.time_hour
),
cut AS (
    SELECT s.*, date_bin(%(horizon)s, s.slot_start - %(lead)s, %(origin)s) AS as_of
    FROM schedule AS s
    WHERE s.slot_start < %(end)s::timestamptz
),
-- Departures per origin and hour (h, h + 1 hour] of the actual departure, labelled h: date_trunc of the
-- departure minus 1 microsecond (timestamptz counts microseconds), so a departure at a cutoff falls in the
-- hour that ends there. From 30 days before the first cutoff (the 28-day windows, plus the longest delays)
-- to an hour after the last one (early departures).
departures AS (
    SELECT f.origin,
           date_trunc('hour', d.departed_at - interval '1 microsecond') AS hour,
           count(*)                                 AS departed,
           sum(f.dep_delay::bigint)                 AS delay_sum,
           count(*) FILTER (WHERE f.dep_delay > 15) AS delayed
    FROM nycflights13.flights AS f
    CROSS JOIN LATERAL (
        SELECT f.time_hour + make_interval(mins => f.minute) + f.dep_delay * interval '1 minute' AS departed_at
    ) AS d
    WHERE f.time_hour >= %(start)s::timestamptz - %(lead)s - %(horizon)s - interval '30 days'
      AND f.time_hour < %(end)s::timestamptz - %(lead)s + interval '1 hour'
      AND f.dep_delay IS NOT NULL
    GROUP BY f.origin, date_trunc('hour', d.departed_at - interval '1 microsecond')
),
-- Every hour of every origin (hours without departures count zero), so that a window of n rows is
-- n hours.
grid AS (
    SELECT o.origin,
           h.hour,
           coalesce(d.departed, 0)   AS departed,
           coalesce(d.delay_sum, 0)  AS delay_sum,
           coalesce(d.delayed, 0)    AS delayed
    FROM (SELECT DISTINCT origin FROM cut) AS o
    CROSS JOIN generate_series(
        date_trunc('hour', %(start)s::timestamptz - %(lead)s - %(horizon)s) - interval '29 days',
        %(end)s::timestamptz - %(lead)s,
        interval '1 hour'
    ) AS h(hour)
    LEFT JOIN departures AS d ON d.origin = o.origin AND d.hour = h.hour
),
rolling AS (
    SELECT origin,
           hour,
           departed::double precision                                    AS departed_1h,
           (sum(departed) OVER last3h)::double precision                 AS departed_3h,
           (sum(delay_sum) OVER last3h / nullif(sum(departed) OVER last3h, 0))::double precision AS mean_delay_3h,
           (sum(delayed) OVER last3h::double precision / nullif(sum(departed) OVER last3h, 0))     AS share_delayed_3h,
           (sum(delay_sum) OVER last7d / nullif(sum(departed) OVER last7d, 0))::double precision AS mean_delay_7d,
           (sum(delay_sum) OVER last28d / nullif(sum(departed) OVER last28d, 0))::double precision AS mean_delay_28d,
           (sum(delay_sum) OVER same_hour / nullif(sum(departed) OVER same_hour, 0))::double precision
                                                                         AS mean_delay_same_hour_28d
    FROM grid
    WINDOW last3h AS (PARTITION BY origin ORDER BY hour ROWS BETWEEN 2 PRECEDING AND CURRENT ROW),
           last7d AS (PARTITION BY origin ORDER BY hour ROWS BETWEEN 167 PRECEDING AND CURRENT ROW),
           last28d AS (PARTITION BY origin ORDER BY hour ROWS BETWEEN 671 PRECEDING AND CURRENT ROW),
           same_hour AS (
               PARTITION BY origin, extract(hour FROM hour AT TIME ZONE 'America/New_York')
               ORDER BY hour ROWS BETWEEN 27 PRECEDING AND CURRENT ROW
           )
)
SELECT
    c.origin,
    c.slot_start,
    c.slot_start                                                            AS slot_time,
    c.as_of,
    extract(month FROM c.slot_start AT TIME ZONE 'America/New_York')::int   AS month,
    extract(isodow FROM c.slot_start AT TIME ZONE 'America/New_York')::int  AS day_of_week,
    extract(hour FROM c.slot_start AT TIME ZONE 'America/New_York')::int    AS slot_hour,
    c.scheduled_flights,
    c.carriers,
    c.destinations,
    c.mean_distance,
    coalesce(nh.scheduled_flights, 0)                                       AS scheduled_next_hour,
    coalesce(r.departed_1h, 0)                                              AS departed_1h,
    coalesce(r.departed_3h, 0)                                              AS departed_3h,
    coalesce(r.mean_delay_3h, 0)                                            AS mean_delay_3h,
    coalesce(r.share_delayed_3h, 0)                                         AS share_delayed_3h,
    od.overdue_flights,
    od.overdue_minutes,
    r.mean_delay_7d,
    r.mean_delay_28d,
    coalesce(p.mean_delay_same_hour_28d, r.mean_delay_28d)                  AS mean_delay_same_hour_28d,
    w.temp,
    w.humid,
    w.wind_speed,
    w.wind_gust,
    w.precip,
    w.pressure,
    w.visib,
    c.mean_dep_delay,
    CASE WHEN c.mean_dep_delay IS NOT NULL THEN
        greatest(c.last_departure, c.slot_start + interval '1 hour')
    END                                                                     AS label_known_at
FROM cut AS c
-- The last full hour ending by the cutoff.
LEFT JOIN rolling AS r
       ON r.origin = c.origin AND r.hour = date_trunc('hour', c.as_of) - interval '1 hour'
-- The slot's hour of day, the day before, when that hour had ended by the cutoff.
LEFT JOIN rolling AS p
       ON p.origin = c.origin AND p.hour = c.slot_start - interval '1 day'
      AND p.hour + interval '1 hour' <= c.as_of
LEFT JOIN schedule AS nh ON nh.origin = c.origin AND nh.slot_start = c.slot_start + interval '1 hour'
-- Flights scheduled in the 6 hours up to the cutoff, (T - 6 h, T], that had not left by it (or were cancelled).
LEFT JOIN LATERAL (
    SELECT count(*)::double precision AS overdue_flights,
           coalesce(sum(extract(epoch FROM c.as_of - s.scheduled_at)) / 60, 0)::double precision AS overdue_minutes
    FROM nycflights13.flights AS f
    CROSS JOIN LATERAL (SELECT f.time_hour + make_interval(mins => f.minute) AS scheduled_at) AS s
    WHERE f.origin = c.origin
      AND f.time_hour >= c.as_of - interval '7 hours'
      AND f.time_hour <= c.as_of
      AND s.scheduled_at > c.as_of - interval '6 hours'
      AND s.scheduled_at <= c.as_of
      AND (f.dep_delay IS NULL OR s.scheduled_at + f.dep_delay * interval '1 minute' > c.as_of)
) AS od ON true
-- The weather last observed, in the 6 hourly rows known by the cutoff: each column's latest non-null value (a row
-- may lack one, pressure most often), but the gust of the latest row (NULL there: no gusts).
LEFT JOIN LATERAL (
    SELECT (array_agg(w.temp ORDER BY w.time_hour DESC) FILTER (WHERE w.temp IS NOT NULL))[1]             AS temp,
           (array_agg(w.humid ORDER BY w.time_hour DESC) FILTER (WHERE w.humid IS NOT NULL))[1]           AS humid,
           (array_agg(w.wind_speed ORDER BY w.time_hour DESC) FILTER (WHERE w.wind_speed IS NOT NULL))[1] AS wind_speed,
           (array_agg(w.wind_gust ORDER BY w.time_hour DESC))[1]                                          AS wind_gust,
           (array_agg(w.precip ORDER BY w.time_hour DESC) FILTER (WHERE w.precip IS NOT NULL))[1]         AS precip,
           (array_agg(w.pressure ORDER BY w.time_hour DESC) FILTER (WHERE w.pressure IS NOT NULL))[1]     AS pressure,
           (array_agg(w.visib ORDER BY w.time_hour DESC) FILTER (WHERE w.visib IS NOT NULL))[1]           AS visib
    FROM nycflights13.weather AS w
    WHERE w.origin = c.origin
      AND w.time_hour <= c.as_of - interval '1 hour'
      AND w.time_hour > c.as_of - interval '7 hours'
) AS w ON true
ORDER BY c.slot_start, c.origin
