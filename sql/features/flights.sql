-- Point-in-time feature table of the flight-delay model: one row per flight whose scheduled departure
-- lies in [start, end). Each row's cutoff, as_of, is the cutoff of the hourly predict run that scores
-- it: date_bin(horizon, scheduled departure - lead, origin). Every feature uses only source data known
-- by that row's as_of, at or before it (docs/features.md gives each definition and why it is known then).
-- Source facts and when they become known:
--   the schedule (flights rows: time_hour, minute, carrier, route, tailnum) and the planes table: in advance;
--   a departure and its dep_delay: at the actual departure, scheduled + dep_delay minutes;
--   "not left by 15 minutes after schedule" (a delay over 15 minutes): at scheduled + 15 minutes;
--   a weather row at time_hour h (observations up to minute 51 of the hour): at h + 1 hour.
-- Label: dep_delayed_15 (dep_delay over 15 minutes), NULL for a cancelled flight. label_known_at: the
-- actual departure, or scheduled + 15 minutes when the flight has not left by then; NULL when cancelled.
-- Trailing delay rates read the daily aggregate features.flight_outcomes_daily (dataset.aggregates; the
-- pipeline builds each UTC day once it is over) for the whole days before the cutoff's day, plus the raw
-- outcomes of the cutoff's day known by the cutoff. Everything else reads the last 30 hours of flights
-- through the time_hour index, and the aircraft's previous departure through (tailnum, time_hour).
-- Windows are set-based: source events, summed per bucket of the cutoff grid (see grid), and query rows
-- (one per key and as_of) are unioned, and a window frame ending 1 microsecond before each query row
-- aggregates the buckets before it: the events known by its cutoff.
WITH target AS (  -- the flights to return, with their cutoff and its UTC day
    SELECT f.*,
           f.time_hour + make_interval(mins => f.minute) AS sched,
           date_bin(%(horizon)s::interval, f.time_hour + make_interval(mins => f.minute) - %(lead)s::interval,
                    %(origin)s::timestamptz) AS as_of,
           date_bin(interval '1 day',
                    date_bin(%(horizon)s::interval, f.time_hour + make_interval(mins => f.minute) - %(lead)s::interval,
                             %(origin)s::timestamptz),
                    timestamptz '2000-01-01 00:00:00+00') AS as_of_day
    FROM nycflights13.flights AS f
    WHERE f.time_hour > %(start)s::timestamptz - interval '1 hour'  -- lets the time_hour index serve the window
      AND f.time_hour < %(end)s::timestamptz
      -- In a CASE, so the planner estimates this filter at half the rows rather than 0.5%% of them (its
      -- default for a range over an expression): a month's window is then planned with hash joins.
      AND CASE WHEN f.time_hour + make_interval(mins => f.minute) >= %(start)s::timestamptz
                AND f.time_hour + make_interval(mins => f.minute) < %(end)s::timestamptz THEN true ELSE false END
),
span AS (  -- the range of cutoffs and scheduled hours in this window, and the first cutoff's UTC day
    SELECT min(as_of) AS first_as_of, max(as_of) AS last_as_of, min(as_of_day) AS first_day,
           min(time_hour) AS first_time_hour, max(time_hour) AS last_time_hour
    FROM target
),
-- Events are summed per bucket of the cutoff grid before the windows: buckets as wide as the largest duration
-- that divides both the horizon and an hour, from origin. A bucket is closed at its end and open at its
-- start, (c, c + b], and labelled by its start c: date_bin(b, ts - 1 microsecond) (timestamptz counts
-- microseconds), so an event known at a cutoff falls in the bucket that ends there and counts for it. Every
-- cutoff and every frame edge (1, 3, 6 hours, a UTC day) falls on a bucket boundary, so a bucket is wholly
-- known by a cutoff or wholly not: exact.
grid AS (SELECT make_interval(secs => gcd(extract(epoch FROM %(horizon)s::interval)::bigint, 3600)) AS b),
recent AS (  -- flights scheduled from 30 hours before the first cutoff to the last one: every event read below
    SELECT f.flight_id, f.carrier, f.flight, f.origin, f.dest, f.hour,
           f.time_hour + make_interval(mins => f.minute) AS sched,
           f.time_hour + make_interval(mins => f.minute) + make_interval(mins => f.dep_delay::int) AS dep_at,
           f.dep_delay
    FROM nycflights13.flights AS f, span AS s
    WHERE f.time_hour >= s.first_as_of - interval '30 hours' AND f.time_hour < s.last_as_of + interval '1 hour'
),
-- Trailing delay rates. A flight's outcome "delayed over 15 minutes" (the label's dep_delay > 15) is known
-- at its departure when it leaves by scheduled + 15 minutes (not delayed), else at scheduled + 15 minutes
-- (delayed, or later cancelled: counted as delayed, since the cancellation is not known yet). The rates over
-- 7 and 28 days sum the daily aggregate over the 7 and 28 whole UTC days before the cutoff's day, and the
-- outcomes of the cutoff's day known by the cutoff.
rate_keys AS (  -- each scored flight's six keys
    SELECT t.flight_id, t.as_of, t.as_of_day AS day, g.grp, g.k COLLATE "C" AS k
    FROM target AS t
    CROSS JOIN LATERAL (VALUES ('carrier', t.carrier), ('origin', t.origin), ('dest', t.dest),
                               ('route', t.origin || '-' || t.dest), ('carrier_hour', t.carrier || '@' || t.hour),
                               ('flight', t.carrier || t.flight || '@' || t.origin))
        AS g (grp, k)
),
key_days AS (SELECT DISTINCT grp, k, day FROM rate_keys),
whole_days AS (  -- per key and cutoff day: the daily aggregate's sums over the 7 and 28 days before it
    SELECT grp, k, day, y7, n7, y28, n28
    FROM (
        SELECT grp, k, day, is_query,
               sum(delayed) OVER w7 AS y7, sum(flights) OVER w7 AS n7,
               sum(delayed) OVER w28 AS y28, sum(flights) OVER w28 AS n28
        FROM (
            SELECT a.grp, a.k, a.period_start AS day, a.flights, a.delayed, false AS is_query
            FROM features.flight_outcomes_daily AS a, span AS s
            WHERE a.period_start >= s.first_day - interval '28 days'
              AND a.period_start < (SELECT max(day) FROM key_days)
              AND (a.grp, a.k) IN (SELECT grp, k FROM key_days)
            UNION ALL
            SELECT grp, k, day, 0, 0, true FROM key_days
        ) AS u
        WINDOW w7 AS (PARTITION BY grp, k ORDER BY day RANGE BETWEEN '7 days' PRECEDING AND '1 microsecond' PRECEDING),
               w28 AS (PARTITION BY grp, k ORDER BY day RANGE BETWEEN '28 days' PRECEDING AND '1 microsecond' PRECEDING)
    ) AS w
    WHERE is_query
),
today_rows AS (  -- the outcomes of the cutoffs' days known by the last cutoff, summed per bucket of the cutoff
                 -- grid (see grid), and one query per flight and key
    SELECT g.grp, g.k COLLATE "C" AS k, date_bin(grid.b, o.known_at - interval '1 microsecond', %(origin)s::timestamptz) AS ts,
           sum(o.delayed) AS y,
           count(*) AS n, NULL::bigint AS flight_id,
           date_bin(interval '1 day', o.known_at, timestamptz '2000-01-01 00:00:00+00') AS day
    FROM (
        SELECT r.*,
               CASE WHEN r.dep_at <= r.sched + interval '15 minutes' THEN r.dep_at
                    ELSE r.sched + interval '15 minutes' END AS known_at,
               CASE WHEN r.dep_at <= r.sched + interval '15 minutes' THEN 0 ELSE 1 END AS delayed
        FROM recent AS r
    ) AS o
    CROSS JOIN span AS s
    CROSS JOIN grid
    CROSS JOIN LATERAL (VALUES ('carrier', o.carrier), ('origin', o.origin), ('dest', o.dest),
                               ('route', o.origin || '-' || o.dest), ('carrier_hour', o.carrier || '@' || o.hour),
                               ('flight', o.carrier || o.flight || '@' || o.origin))
        AS g (grp, k)
    WHERE o.known_at >= s.first_day AND o.known_at <= s.last_as_of
    GROUP BY 1, 2, 3, 6, 7
    UNION ALL
    SELECT grp, k, as_of, NULL::bigint, 0, flight_id, day FROM rate_keys
),
today AS (  -- per flight and key: the outcomes of the cutoff's day known by the cutoff
    SELECT flight_id, grp, k, day, y, n
    FROM (  -- the window sums integers (the bucket counts fit): accumulated in bigint, not numeric
        SELECT grp, k, flight_id, day, sum(y::int) OVER w AS y, sum(n::int) OVER w AS n
        FROM today_rows
        WINDOW w AS (PARTITION BY grp, k, day ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND '1 microsecond' PRECEDING)
    ) AS w
    WHERE flight_id IS NOT NULL
),
rates AS (  -- one row per scored flight, the six keys' rates side by side
    SELECT td.flight_id,
           max((coalesce(wd.y7, 0) + coalesce(td.y, 0))::double precision
               / nullif(coalesce(wd.n7, 0) + coalesce(td.n, 0), 0)) FILTER (WHERE td.grp = 'carrier') AS carrier_delay_rate_7d,
           max((coalesce(wd.y28, 0) + coalesce(td.y, 0))::double precision
               / nullif(coalesce(wd.n28, 0) + coalesce(td.n, 0), 0)) FILTER (WHERE td.grp = 'carrier') AS carrier_delay_rate_28d,
           max((coalesce(wd.y7, 0) + coalesce(td.y, 0))::double precision
               / nullif(coalesce(wd.n7, 0) + coalesce(td.n, 0), 0)) FILTER (WHERE td.grp = 'origin') AS origin_delay_rate_7d,
           max((coalesce(wd.y28, 0) + coalesce(td.y, 0))::double precision
               / nullif(coalesce(wd.n28, 0) + coalesce(td.n, 0), 0)) FILTER (WHERE td.grp = 'origin') AS origin_delay_rate_28d,
           max((coalesce(wd.y7, 0) + coalesce(td.y, 0))::double precision
               / nullif(coalesce(wd.n7, 0) + coalesce(td.n, 0), 0)) FILTER (WHERE td.grp = 'dest') AS dest_delay_rate_7d,
           max((coalesce(wd.y28, 0) + coalesce(td.y, 0))::double precision
               / nullif(coalesce(wd.n28, 0) + coalesce(td.n, 0), 0)) FILTER (WHERE td.grp = 'dest') AS dest_delay_rate_28d,
           max((coalesce(wd.y7, 0) + coalesce(td.y, 0))::double precision
               / nullif(coalesce(wd.n7, 0) + coalesce(td.n, 0), 0)) FILTER (WHERE td.grp = 'route') AS route_delay_rate_7d,
           max((coalesce(wd.y28, 0) + coalesce(td.y, 0))::double precision
               / nullif(coalesce(wd.n28, 0) + coalesce(td.n, 0), 0)) FILTER (WHERE td.grp = 'route') AS route_delay_rate_28d,
           max((coalesce(wd.y7, 0) + coalesce(td.y, 0))::double precision
               / nullif(coalesce(wd.n7, 0) + coalesce(td.n, 0), 0)) FILTER (WHERE td.grp = 'carrier_hour') AS carrier_hour_delay_rate_7d,
           max((coalesce(wd.y28, 0) + coalesce(td.y, 0))::double precision
               / nullif(coalesce(wd.n28, 0) + coalesce(td.n, 0), 0)) FILTER (WHERE td.grp = 'carrier_hour') AS carrier_hour_delay_rate_28d,
           max((coalesce(wd.y7, 0) + coalesce(td.y, 0))::double precision
               / nullif(coalesce(wd.n7, 0) + coalesce(td.n, 0), 0)) FILTER (WHERE td.grp = 'flight') AS flight_number_delay_rate_7d,
           max((coalesce(wd.y28, 0) + coalesce(td.y, 0))::double precision
               / nullif(coalesce(wd.n28, 0) + coalesce(td.n, 0), 0)) FILTER (WHERE td.grp = 'flight') AS flight_number_delay_rate_28d,
           max(coalesce(wd.n28, 0) + coalesce(td.n, 0)) FILTER (WHERE td.grp = 'route') AS route_flights_28d
    FROM today AS td
    LEFT JOIN whole_days AS wd ON wd.grp = td.grp AND wd.k = td.k AND wd.day = td.day
    GROUP BY td.flight_id
),
-- Recent state at the cutoff, of the origin airport, of the carrier at the origin, and of the flights
-- to the same destination: departures (at their actual time) and flights that are due but have not left.
-- A flight is overdue at t when scheduled in (t - 3 h, t] and not departed by t: it enters at its
-- schedule (+1) and leaves at its departure or 3 h after schedule (-1), whichever is first;
-- overdue_15 / overdue_60 count it from 15 / 60 minutes after schedule. Only the events that can fall
-- in a frame are kept: departures from 6 h before the first cutoff (of flights scheduled in the 30 hours
-- before it), flights scheduled from 3 h before it.
state_events AS (
    SELECT origin, dest, carrier, dep_at AS ts, 1 AS departed, dep_delay::int AS dep_delay,
           CASE WHEN dep_delay > 15 THEN 1 ELSE 0 END AS delayed, 0 AS pending, 0 AS pending_15, 0 AS pending_60
    FROM recent, span
    WHERE dep_at > first_as_of - interval '6 hours' AND dep_at <= last_as_of
    UNION ALL
    SELECT origin, dest, carrier, sched + e.after, 0, NULL::int, NULL::int,
           CASE WHEN e.after = interval '0' THEN 1 ELSE 0 END,
           CASE WHEN e.after = interval '15 minutes' THEN 1 ELSE 0 END,
           CASE WHEN e.after = interval '60 minutes' THEN 1 ELSE 0 END
    FROM recent
    CROSS JOIN span
    CROSS JOIN LATERAL (VALUES (interval '0'), (interval '15 minutes'), (interval '60 minutes')) AS e (after)
    WHERE (dep_at IS NULL OR dep_at > sched + e.after)
      AND sched > first_as_of - interval '3 hours' AND sched <= last_as_of
    UNION ALL
    SELECT origin, dest, carrier, least(dep_at, sched + interval '3 hours'), 0, NULL::int, NULL::int,
           -1, CASE WHEN least(dep_at, sched + interval '3 hours') > sched + interval '15 minutes' THEN -1 ELSE 0 END,
           CASE WHEN least(dep_at, sched + interval '3 hours') > sched + interval '60 minutes' THEN -1 ELSE 0 END
    FROM recent, span
    WHERE (dep_at IS NULL OR dep_at > sched) AND sched > first_as_of - interval '3 hours' AND sched <= last_as_of
),
state_rows AS (  -- the events summed per bucket of the cutoff grid (see grid), and one query per key and cutoff
    SELECT g.grp, g.k COLLATE "C" AS k, date_bin(grid.b, e.ts - interval '1 microsecond', %(origin)s::timestamptz) AS ts,
           sum(e.departed) AS departed, sum(e.dep_delay) AS delay_sum, count(e.dep_delay) AS delay_n,
           sum(e.delayed) AS delayed, sum(e.pending) AS pending, sum(e.pending_15) AS pending_15,
           sum(e.pending_60) AS pending_60, false AS is_query
    FROM state_events AS e
    CROSS JOIN grid
    CROSS JOIN LATERAL (VALUES ('origin', e.origin), ('dest', e.dest), ('carrier_origin', e.carrier || '@' || e.origin),
                               ('nyc', 'NYC'))
        AS g (grp, k)
    WHERE g.grp = 'origin' OR e.departed = 1 OR e.pending_15 <> 0  -- overdue and overdue_60: of the origin only
    GROUP BY 1, 2, 3
    UNION ALL
    SELECT DISTINCT g.grp, g.k COLLATE "C", t.as_of, 0, 0, 0, 0, 0, 0, 0, true
    FROM target AS t
    CROSS JOIN LATERAL (VALUES ('origin', t.origin), ('dest', t.dest), ('carrier_origin', t.carrier || '@' || t.origin),
                               ('nyc', 'NYC'))
        AS g (grp, k)
),
state AS (
    SELECT grp, k, as_of, departed_1h, departed_3h,
           delay_sum_1h::double precision / nullif(delay_n_1h, 0) AS mean_delay_1h,
           delay_sum_3h::double precision / nullif(delay_n_3h, 0) AS mean_delay_3h,
           delay_sum_6h::double precision / nullif(delay_n_6h, 0) AS mean_delay_6h,
           delayed_3h::double precision / nullif(departed_3h, 0) AS delayed_share_3h, overdue_15,
           CASE WHEN grp = 'origin' THEN overdue END AS overdue, CASE WHEN grp = 'origin' THEN overdue_60 END AS overdue_60
    FROM (  -- the window sums integers (the bucket sums fit): accumulated in bigint, not numeric
        SELECT grp, k, ts AS as_of, is_query,
               sum(departed::int) OVER w1 AS departed_1h,
               sum(delay_sum::int) OVER w1 AS delay_sum_1h,
               sum(delay_n::int) OVER w1 AS delay_n_1h,
               sum(departed::int) OVER w3 AS departed_3h,
               sum(delay_sum::int) OVER w3 AS delay_sum_3h,
               sum(delay_n::int) OVER w3 AS delay_n_3h,
               sum(delayed::int) OVER w3 AS delayed_3h,
               sum(delay_sum::int) OVER w6 AS delay_sum_6h,
               sum(delay_n::int) OVER w6 AS delay_n_6h,
               sum(pending::int) OVER wall AS overdue,
               sum(pending_15::int) OVER wall AS overdue_15,
               sum(pending_60::int) OVER wall AS overdue_60
        FROM state_rows
        WINDOW w1 AS (PARTITION BY grp, k ORDER BY ts RANGE BETWEEN '1 hour' PRECEDING AND '1 microsecond' PRECEDING),
               w3 AS (PARTITION BY grp, k ORDER BY ts RANGE BETWEEN '3 hours' PRECEDING AND '1 microsecond' PRECEDING),
               w6 AS (PARTITION BY grp, k ORDER BY ts RANGE BETWEEN '6 hours' PRECEDING AND '1 microsecond' PRECEDING),
               wall AS (PARTITION BY grp, k ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND '1 microsecond' PRECEDING)
    ) AS w
    WHERE is_query
),
state_by_flight AS (  -- one row per scored flight: the state of its origin, carrier there, destination and NYC,
                      -- each group's row joined on its key and the flight's cutoff
    SELECT t.flight_id,
           so.departed_1h::double precision AS origin_departed_1h,
           so.departed_3h::double precision AS origin_departed_3h,
           so.mean_delay_1h::double precision AS origin_mean_delay_1h,
           so.mean_delay_3h::double precision AS origin_mean_delay_3h,
           so.mean_delay_6h::double precision AS origin_mean_delay_6h,
           so.delayed_share_3h::double precision AS origin_delayed_share_3h,
           so.overdue::double precision AS origin_overdue,
           so.overdue_15::double precision AS origin_overdue_15,
           so.overdue_60::double precision AS origin_overdue_60,
           sc.departed_3h::double precision AS carrier_origin_departed_3h,
           sc.mean_delay_3h::double precision AS carrier_origin_mean_delay_3h,
           sc.delayed_share_3h::double precision AS carrier_origin_delayed_share_3h,
           sc.overdue_15::double precision AS carrier_origin_overdue_15,
           sd.departed_3h::double precision AS dest_departed_3h,
           sd.mean_delay_3h::double precision AS dest_mean_delay_3h,
           sd.delayed_share_3h::double precision AS dest_delayed_share_3h,
           sd.overdue_15::double precision AS dest_overdue_15,
           sn.mean_delay_1h::double precision AS nyc_mean_delay_1h,
           sn.delayed_share_3h::double precision AS nyc_delayed_share_3h,
           sn.overdue_15::double precision AS nyc_overdue_15
    FROM target AS t
    LEFT JOIN state AS so ON so.grp = 'origin' AND so.k = t.origin COLLATE "C" AND so.as_of = t.as_of
    LEFT JOIN state AS sc
        ON sc.grp = 'carrier_origin' AND sc.k = (t.carrier || '@' || t.origin) COLLATE "C" AND sc.as_of = t.as_of
    LEFT JOIN state AS sd ON sd.grp = 'dest' AND sd.k = t.dest COLLATE "C" AND sd.as_of = t.as_of
    LEFT JOIN state AS sn ON sn.grp = 'nyc' AND sn.k = 'NYC' AND sn.as_of = t.as_of
),
-- Congestion: flights scheduled at the origin (the schedule is published in advance, cancelled ones included).
slots AS (
    SELECT f.origin, f.time_hour, count(*) AS n
    FROM nycflights13.flights AS f, span AS s
    WHERE f.time_hour >= s.first_time_hour - interval '1 hour' AND f.time_hour < s.last_time_hour + interval '2 hours'
    GROUP BY f.origin, f.time_hour
),
-- The weather row last observed by each cutoff: a row at time_hour h is known at h + 1 hour.
weather AS (
    SELECT q.origin, q.as_of, w.temp, w.dewp, w.humid, w.wind_dir, w.wind_speed, w.wind_gust, w.precip,
           w.pressure, w.visib, extract(epoch FROM q.as_of - (w.time_hour + interval '1 hour')) / 60.0 AS weather_age_min,
           r.precip_3h, r.visib_min_3h
    FROM (SELECT DISTINCT origin, as_of FROM target) AS q
    LEFT JOIN LATERAL (
        SELECT * FROM nycflights13.weather AS x
        WHERE x.origin = q.origin AND x.time_hour <= q.as_of - interval '1 hour'
        ORDER BY x.time_hour DESC LIMIT 1
    ) AS w ON true
    LEFT JOIN LATERAL (  -- the rows of the 3 hours known by the cutoff
        SELECT sum(x.precip) AS precip_3h, min(x.visib) AS visib_min_3h
        FROM nycflights13.weather AS x
        WHERE x.origin = q.origin AND x.time_hour <= q.as_of - interval '1 hour'
          AND x.time_hour > q.as_of - interval '4 hours'
    ) AS r ON true
),
days AS (  -- days from the local scheduled date to the nearest US federal holidays
    SELECT d.day,
           (SELECT min(h.day) FROM nycflights13.holidays AS h WHERE h.day >= d.day) - d.day AS days_to_holiday,
           d.day - (SELECT max(h.day) FROM nycflights13.holidays AS h WHERE h.day <= d.day) AS days_from_holiday
    FROM (SELECT DISTINCT (sched AT TIME ZONE 'America/New_York')::date AS day FROM target) AS d
)
SELECT
    t.flight_id,
    t.sched                                                                AS scheduled_departure,
    t.as_of,
    CASE WHEN t.dep_delay IS NULL THEN NULL
         ELSE least(t.sched + make_interval(mins => t.dep_delay::int), t.sched + interval '15 minutes')
    END                                                                    AS label_known_at,
    -- schedule, route and plane: known in advance
    t.month,
    extract(isodow FROM t.sched AT TIME ZONE 'America/New_York')::int      AS day_of_week,
    t.hour                                                                 AS sched_dep_hour,
    t.hour * 60 + t.minute                                                 AS sched_dep_minute_of_day,
    extract(epoch FROM t.sched - t.as_of)::double precision / 60.0         AS minutes_after_cutoff,
    t.distance,
    (t.year - pl.year)::double precision                                   AS plane_age,
    pl.seats::double precision                                             AS seats,
    pl.engines::double precision                                           AS engines,
    dy.days_to_holiday,
    dy.days_from_holiday,
    -- congestion: flights scheduled at the origin in the departure hour, the hours around it, and the day
    so.n::double precision                                                 AS sched_origin_hour,
    (coalesce(sb.n, 0) + so.n + coalesce(sa.n, 0))::double precision       AS sched_origin_3h,
    -- state of the origin airport, of the carrier there and of the flights to the destination at the cutoff
    coalesce(sf.origin_departed_1h, 0)                                     AS origin_departed_1h,
    coalesce(sf.origin_departed_3h, 0)                                     AS origin_departed_3h,
    sf.origin_mean_delay_1h,
    sf.origin_mean_delay_3h,
    sf.origin_mean_delay_6h,
    sf.origin_delayed_share_3h,
    coalesce(sf.origin_overdue, 0)                                         AS origin_overdue,
    coalesce(sf.origin_overdue_15, 0)                                      AS origin_overdue_15,
    coalesce(sf.origin_overdue_60, 0)                                      AS origin_overdue_60,
    coalesce(sf.carrier_origin_departed_3h, 0)                             AS carrier_origin_departed_3h,
    sf.carrier_origin_mean_delay_3h,
    sf.carrier_origin_delayed_share_3h,
    coalesce(sf.carrier_origin_overdue_15, 0)                              AS carrier_origin_overdue_15,
    coalesce(sf.dest_departed_3h, 0)                                       AS dest_departed_3h,
    sf.dest_mean_delay_3h,
    sf.dest_delayed_share_3h,
    coalesce(sf.dest_overdue_15, 0)                                        AS dest_overdue_15,
    sf.nyc_mean_delay_1h,
    sf.nyc_delayed_share_3h,
    coalesce(sf.nyc_overdue_15, 0)                                         AS nyc_overdue_15,
    -- trailing delay rates (outcomes known by the cutoff)
    rt.carrier_delay_rate_7d,
    rt.carrier_delay_rate_28d,
    rt.origin_delay_rate_7d,
    rt.origin_delay_rate_28d,
    rt.dest_delay_rate_7d,
    rt.dest_delay_rate_28d,
    rt.route_delay_rate_7d,
    rt.route_delay_rate_28d,
    coalesce(rt.route_flights_28d, 0)::double precision                     AS route_flights_28d,
    rt.carrier_hour_delay_rate_7d,
    rt.carrier_hour_delay_rate_28d,
    rt.flight_number_delay_rate_7d,
    rt.flight_number_delay_rate_28d,
    -- the aircraft's previous departure: its schedule, and what is known of it at the cutoff
    extract(epoch FROM t.sched - ac.prev_sched)::double precision / 60.0   AS prev_gap_min,
    CASE WHEN ac.prev_dep_at <= t.as_of THEN ac.prev_dep_delay END         AS prev_dep_delay,
    CASE WHEN ac.prev_sched <= t.as_of AND (ac.prev_dep_at IS NULL OR ac.prev_dep_at > t.as_of)
         THEN extract(epoch FROM t.as_of - ac.prev_sched)::double precision / 60.0 END AS prev_overdue_min,
    -- the weather as last observed by the cutoff
    w.temp,
    w.dewp,
    w.humid,
    w.wind_dir,
    w.wind_speed,
    w.wind_gust,
    w.precip,
    w.pressure,
    w.visib,
    w.weather_age_min::double precision                                    AS weather_age_min,
    w.precip_3h,
    w.visib_min_3h,
    t.carrier,
    t.origin,
    t.dest,
    CASE WHEN t.dep_delay IS NULL THEN NULL
         WHEN t.dep_delay > 15 THEN 1 ELSE 0 END::smallint                AS dep_delayed_15
FROM target AS t
LEFT JOIN nycflights13.planes AS pl ON pl.tailnum = t.tailnum
LEFT JOIN days AS dy ON dy.day = (t.sched AT TIME ZONE 'America/New_York')::date
LEFT JOIN slots AS so ON so.origin = t.origin AND so.time_hour = t.time_hour
LEFT JOIN slots AS sb ON sb.origin = t.origin AND sb.time_hour = t.time_hour - interval '1 hour'
LEFT JOIN slots AS sa ON sa.origin = t.origin AND sa.time_hour = t.time_hour + interval '1 hour'
LEFT JOIN state_by_flight AS sf ON sf.flight_id = t.flight_id
LEFT JOIN rates AS rt ON rt.flight_id = t.flight_id
LEFT JOIN LATERAL (  -- the aircraft's previous New York departure by schedule, in the 7 days before
    SELECT p.time_hour + make_interval(mins => p.minute) AS prev_sched,
           p.time_hour + make_interval(mins => p.minute) + make_interval(mins => p.dep_delay::int) AS prev_dep_at,
           p.dep_delay AS prev_dep_delay
    FROM nycflights13.flights AS p
    WHERE p.tailnum = t.tailnum
      AND (p.time_hour, p.minute, p.flight_id) < (t.time_hour, t.minute, t.flight_id)
      AND p.time_hour >= t.time_hour - interval '7 days 1 hour'
      AND p.time_hour + make_interval(mins => p.minute) >= t.sched - interval '7 days'
    ORDER BY p.time_hour DESC, p.minute DESC, p.flight_id DESC
    LIMIT 1
) AS ac ON true
LEFT JOIN weather AS w ON w.origin = t.origin AND w.as_of = t.as_of
ORDER BY scheduled_departure, t.flight_id
