-- Point-in-time feature table of the flight-delay model: one row per flight whose scheduled departure
-- lies in [start, end). Each row's cutoff, as_of, is the cutoff of the hourly predict run that scores
-- it: date_bin(horizon, scheduled departure - lead, origin). Every feature uses only source data known
-- strictly before that row's as_of (docs/features.md gives each definition and why it is known then).
-- Source facts and when they become known:
--   the schedule (flights rows: time_hour, minute, carrier, route, tailnum) and the planes table: in advance;
--   a departure and its dep_delay: at the actual departure, scheduled + dep_delay minutes;
--   "not left 15 minutes after schedule" (a delay over 15 minutes): at scheduled + 15 minutes;
--   a weather row at time_hour h (observations up to minute 51 of the hour): at h + 1 hour.
-- Label: dep_delayed_15 (dep_delay over 15 minutes), NULL for a cancelled flight. label_known_at: the
-- actual departure, or scheduled + 15 minutes when the flight has not left by then; NULL when cancelled.
-- Windows are set-based: source events and query rows (one per key and as_of) are unioned and a
-- window frame ending 1 microsecond before each query row aggregates the events strictly before it.
WITH target AS (  -- the flights to return, with their cutoff
    SELECT f.*,
           f.time_hour + make_interval(mins => f.minute) AS sched,
           date_bin(%(horizon)s::interval, f.time_hour + make_interval(mins => f.minute) - %(lead)s::interval,
                    %(origin)s::timestamptz) AS as_of
    FROM nycflights13.flights AS f
    WHERE f.time_hour > %(start)s::timestamptz - interval '1 hour'  -- lets the time_hour index serve the window
      AND f.time_hour < %(end)s::timestamptz
      AND f.time_hour + make_interval(mins => f.minute) >= %(start)s::timestamptz
      AND f.time_hour + make_interval(mins => f.minute) < %(end)s::timestamptz
),
span AS (  -- the range of cutoffs in this window, and the last scheduled hour (a horizon can be days long)
    SELECT min(as_of) AS first_as_of, max(as_of) AS last_as_of, max(time_hour) AS last_time_hour FROM target
),
hist AS (  -- source flights whose events can fall in the 28 days before a cutoff (events are filtered exactly below)
    SELECT f.flight_id, f.carrier, f.flight, f.origin, f.dest, f.hour, f.tailnum,
           f.time_hour + make_interval(mins => f.minute) AS sched,
           f.time_hour + make_interval(mins => f.minute) + make_interval(mins => f.dep_delay::int) AS dep_at,
           f.dep_delay
    FROM nycflights13.flights AS f, span AS s
    WHERE f.time_hour >= s.first_as_of - interval '29 days'
      AND f.time_hour < greatest(s.last_as_of + interval '1 day', s.last_time_hour + interval '1 hour')
),
-- Trailing delay rates. A flight's outcome "delayed over 15 minutes" is known at its departure, or at
-- scheduled + 15 minutes when it has not left by then (then it is delayed, or later cancelled: counted
-- as delayed, since the cancellation is not known yet).
outcomes AS (
    SELECT h.*,
           CASE WHEN h.dep_at < h.sched + interval '15 minutes' THEN h.dep_at
                ELSE h.sched + interval '15 minutes' END AS known_at,
           CASE WHEN h.dep_at < h.sched + interval '15 minutes' THEN 0 ELSE 1 END AS delayed
    FROM hist AS h
),
rate_queries AS (  -- one per key and cutoff
    SELECT DISTINCT g.grp, g.k COLLATE "C" AS k, t.as_of
    FROM target AS t
    CROSS JOIN LATERAL (VALUES ('carrier', t.carrier), ('origin', t.origin), ('dest', t.dest),
                               ('route', t.origin || '-' || t.dest), ('carrier_hour', t.carrier || '@' || t.hour),
                               ('flight', t.carrier || t.flight || '@' || t.origin))
        AS g (grp, k)
),
rate_rows AS (  -- the outcomes known in the 28 days before a cutoff, and the queries
    SELECT g.grp, g.k COLLATE "C" AS k, o.known_at AS ts, o.delayed AS y, 1 AS n
    FROM outcomes AS o
    CROSS JOIN span AS s
    CROSS JOIN LATERAL (VALUES ('carrier', o.carrier), ('origin', o.origin), ('dest', o.dest),
                               ('route', o.origin || '-' || o.dest), ('carrier_hour', o.carrier || '@' || o.hour),
                               ('flight', o.carrier || o.flight || '@' || o.origin))
        AS g (grp, k)
    WHERE o.known_at >= s.first_as_of - interval '28 days' AND o.known_at < s.last_as_of
    UNION ALL
    SELECT grp, k, as_of, NULL::int, 0 FROM rate_queries
),
rates AS (
    SELECT grp, k, as_of,
           y7::double precision / nullif(n7, 0) AS rate_7d, y28::double precision / nullif(n28, 0) AS rate_28d, n28
    FROM (
        SELECT grp, k, ts AS as_of, y IS NULL AS is_query,
               sum(y) OVER w7 AS y7, sum(n) OVER w7 AS n7, sum(y) OVER w28 AS y28, sum(n) OVER w28 AS n28
        FROM rate_rows
        WINDOW w7 AS (PARTITION BY grp, k ORDER BY ts RANGE BETWEEN '7 days' PRECEDING AND '1 microsecond' PRECEDING),
               w28 AS (PARTITION BY grp, k ORDER BY ts RANGE BETWEEN '28 days' PRECEDING AND '1 microsecond' PRECEDING)
    ) AS w
    WHERE is_query
),
-- Recent state before the cutoff, of the origin airport, of the carrier at the origin, and of the flights
-- to the same destination: departures (at their actual time) and flights that are due but have not left.
-- A flight is overdue at t when scheduled in [t - 3 h, t) and not departed before t: it enters at its
-- schedule (+1) and leaves at its departure or 3 h after schedule (-1), whichever is first;
-- overdue_15 / overdue_60 count it from 15 / 60 minutes after schedule. Only the events that can fall
-- in a frame are kept: departures up to 6 h before the first cutoff, flights scheduled up to 3 h before it.
state_events AS (
    SELECT origin, dest, carrier, dep_at AS ts, 1 AS departed, dep_delay::int AS dep_delay,
           CASE WHEN dep_delay > 15 THEN 1 ELSE 0 END AS delayed, 0 AS pending, 0 AS pending_15, 0 AS pending_60
    FROM hist, span
    WHERE dep_at >= first_as_of - interval '6 hours' AND dep_at < last_as_of
    UNION ALL
    SELECT origin, dest, carrier, sched + e.after, 0, NULL::int, NULL::int,
           CASE WHEN e.after = interval '0' THEN 1 ELSE 0 END,
           CASE WHEN e.after = interval '15 minutes' THEN 1 ELSE 0 END,
           CASE WHEN e.after = interval '60 minutes' THEN 1 ELSE 0 END
    FROM hist
    CROSS JOIN span
    CROSS JOIN LATERAL (VALUES (interval '0'), (interval '15 minutes'), (interval '60 minutes')) AS e (after)
    WHERE (dep_at IS NULL OR dep_at > sched + e.after)
      AND sched >= first_as_of - interval '3 hours' AND sched < last_as_of
    UNION ALL
    SELECT origin, dest, carrier, least(dep_at, sched + interval '3 hours'), 0, NULL::int, NULL::int,
           -1, CASE WHEN least(dep_at, sched + interval '3 hours') > sched + interval '15 minutes' THEN -1 ELSE 0 END,
           CASE WHEN least(dep_at, sched + interval '3 hours') > sched + interval '60 minutes' THEN -1 ELSE 0 END
    FROM hist, span
    WHERE (dep_at IS NULL OR dep_at > sched) AND sched >= first_as_of - interval '3 hours' AND sched < last_as_of
),
state_rows AS (
    SELECT g.grp, g.k COLLATE "C" AS k, e.ts, e.departed, e.dep_delay, e.delayed, e.pending, e.pending_15,
           e.pending_60, false AS is_query
    FROM state_events AS e
    CROSS JOIN LATERAL (VALUES ('origin', e.origin), ('dest', e.dest), ('carrier_origin', e.carrier || '@' || e.origin),
                               ('nyc', 'NYC'))
        AS g (grp, k)
    WHERE g.grp = 'origin' OR e.departed = 1 OR e.pending_15 <> 0  -- overdue and overdue_60: of the origin only
    UNION ALL
    SELECT DISTINCT g.grp, g.k COLLATE "C", t.as_of, 0, NULL::int, NULL::int, 0, 0, 0, true
    FROM target AS t
    CROSS JOIN LATERAL (VALUES ('origin', t.origin), ('dest', t.dest), ('carrier_origin', t.carrier || '@' || t.origin),
                               ('nyc', 'NYC'))
        AS g (grp, k)
),
state AS (
    SELECT grp, k, as_of, departed_1h, departed_3h, mean_delay_1h, mean_delay_3h, mean_delay_6h,
           delayed_3h::double precision / nullif(departed_3h, 0) AS delayed_share_3h, overdue_15,
           CASE WHEN grp = 'origin' THEN overdue END AS overdue, CASE WHEN grp = 'origin' THEN overdue_60 END AS overdue_60
    FROM (
        SELECT grp, k, ts AS as_of, is_query,
               sum(departed) OVER w1 AS departed_1h,
               sum(departed) OVER w3 AS departed_3h,
               avg(dep_delay) OVER w1 AS mean_delay_1h,
               avg(dep_delay) OVER w3 AS mean_delay_3h,
               avg(dep_delay) OVER w6 AS mean_delay_6h,
               sum(delayed) OVER w3 AS delayed_3h,
               sum(pending) OVER wall AS overdue,
               sum(pending_15) OVER wall AS overdue_15,
               sum(pending_60) OVER wall AS overdue_60
        FROM state_rows
        WINDOW w1 AS (PARTITION BY grp, k ORDER BY ts RANGE BETWEEN '1 hour' PRECEDING AND '1 microsecond' PRECEDING),
               w3 AS (PARTITION BY grp, k ORDER BY ts RANGE BETWEEN '3 hours' PRECEDING AND '1 microsecond' PRECEDING),
               w6 AS (PARTITION BY grp, k ORDER BY ts RANGE BETWEEN '6 hours' PRECEDING AND '1 microsecond' PRECEDING),
               wall AS (PARTITION BY grp, k ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND '1 microsecond' PRECEDING)
    ) AS w
    WHERE is_query
),
-- The aircraft's previous New York departure by schedule (hist reaches 29 days back, so the lag is exact
-- for the 7 days before each flight that the feature looks at).
aircraft AS (
    SELECT flight_id,
           lag(sched) OVER w AS prev_sched, lag(dep_at) OVER w AS prev_dep_at, lag(dep_delay) OVER w AS prev_dep_delay
    FROM hist
    WHERE tailnum IS NOT NULL
    WINDOW w AS (PARTITION BY tailnum ORDER BY sched, flight_id)
),
-- Congestion: flights scheduled at the origin (the schedule is published in advance, cancelled ones included).
slots AS (
    SELECT f.origin, f.time_hour, count(*) AS n
    FROM nycflights13.flights AS f, span AS s
    WHERE f.time_hour >= s.first_as_of - interval '1 day'
      AND f.time_hour < greatest(s.last_as_of + interval '2 days', s.last_time_hour + interval '2 hours')
    GROUP BY f.origin, f.time_hour
),
-- The weather row last observed before each cutoff: a row at time_hour h is known at h + 1 hour.
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
    LEFT JOIN LATERAL (  -- the rows of the 3 hours known before the cutoff
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
    -- state of the origin airport, of the carrier there and of the flights to the destination before the cutoff
    coalesce(os.departed_1h, 0)::double precision                          AS origin_departed_1h,
    coalesce(os.departed_3h, 0)::double precision                          AS origin_departed_3h,
    os.mean_delay_1h::double precision                                     AS origin_mean_delay_1h,
    os.mean_delay_3h::double precision                                     AS origin_mean_delay_3h,
    os.mean_delay_6h::double precision                                     AS origin_mean_delay_6h,
    os.delayed_share_3h                                                    AS origin_delayed_share_3h,
    coalesce(os.overdue, 0)::double precision                              AS origin_overdue,
    coalesce(os.overdue_15, 0)::double precision                           AS origin_overdue_15,
    coalesce(os.overdue_60, 0)::double precision                           AS origin_overdue_60,
    coalesce(cs.departed_3h, 0)::double precision                          AS carrier_origin_departed_3h,
    cs.mean_delay_3h::double precision                                     AS carrier_origin_mean_delay_3h,
    cs.delayed_share_3h                                                    AS carrier_origin_delayed_share_3h,
    coalesce(cs.overdue_15, 0)::double precision                           AS carrier_origin_overdue_15,
    coalesce(ds.departed_3h, 0)::double precision                          AS dest_departed_3h,
    ds.mean_delay_3h::double precision                                     AS dest_mean_delay_3h,
    ds.delayed_share_3h                                                    AS dest_delayed_share_3h,
    coalesce(ds.overdue_15, 0)::double precision                           AS dest_overdue_15,
    ns.mean_delay_1h::double precision                                     AS nyc_mean_delay_1h,
    ns.delayed_share_3h                                                    AS nyc_delayed_share_3h,
    coalesce(ns.overdue_15, 0)::double precision                           AS nyc_overdue_15,
    -- trailing delay rates (outcomes known before the cutoff)
    rc.rate_7d::double precision                                           AS carrier_delay_rate_7d,
    rc.rate_28d::double precision                                          AS carrier_delay_rate_28d,
    ro.rate_7d::double precision                                           AS origin_delay_rate_7d,
    ro.rate_28d::double precision                                          AS origin_delay_rate_28d,
    rd.rate_7d::double precision                                           AS dest_delay_rate_7d,
    rd.rate_28d::double precision                                          AS dest_delay_rate_28d,
    rr.rate_7d::double precision                                           AS route_delay_rate_7d,
    rr.rate_28d::double precision                                          AS route_delay_rate_28d,
    coalesce(rr.n28, 0)::double precision                                  AS route_flights_28d,
    rh.rate_7d::double precision                                           AS carrier_hour_delay_rate_7d,
    rh.rate_28d::double precision                                          AS carrier_hour_delay_rate_28d,
    rf.rate_7d::double precision                                           AS flight_number_delay_rate_7d,
    rf.rate_28d::double precision                                          AS flight_number_delay_rate_28d,
    -- the aircraft's previous departure: its schedule, and what is known of it at the cutoff
    extract(epoch FROM t.sched - ac.prev_sched)::double precision / 60.0   AS prev_gap_min,
    CASE WHEN ac.prev_dep_at < t.as_of THEN ac.prev_dep_delay END          AS prev_dep_delay,
    CASE WHEN ac.prev_sched < t.as_of AND (ac.prev_dep_at IS NULL OR ac.prev_dep_at >= t.as_of)
         THEN extract(epoch FROM t.as_of - ac.prev_sched)::double precision / 60.0 END AS prev_overdue_min,
    -- the weather as last observed before the cutoff
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
LEFT JOIN state AS os ON os.grp = 'origin' AND os.k = t.origin AND os.as_of = t.as_of
LEFT JOIN state AS cs ON cs.grp = 'carrier_origin' AND cs.k = t.carrier || '@' || t.origin AND cs.as_of = t.as_of
LEFT JOIN state AS ds ON ds.grp = 'dest' AND ds.k = t.dest AND ds.as_of = t.as_of
LEFT JOIN state AS ns ON ns.grp = 'nyc' AND ns.as_of = t.as_of
LEFT JOIN rates AS rc ON rc.grp = 'carrier' AND rc.k = t.carrier AND rc.as_of = t.as_of
LEFT JOIN rates AS ro ON ro.grp = 'origin' AND ro.k = t.origin AND ro.as_of = t.as_of
LEFT JOIN rates AS rd ON rd.grp = 'dest' AND rd.k = t.dest AND rd.as_of = t.as_of
LEFT JOIN rates AS rr ON rr.grp = 'route' AND rr.k = t.origin || '-' || t.dest AND rr.as_of = t.as_of
LEFT JOIN rates AS rh ON rh.grp = 'carrier_hour' AND rh.k = t.carrier || '@' || t.hour AND rh.as_of = t.as_of
LEFT JOIN rates AS rf ON rf.grp = 'flight' AND rf.k = t.carrier || t.flight || '@' || t.origin AND rf.as_of = t.as_of
LEFT JOIN aircraft AS ac ON ac.flight_id = t.flight_id AND ac.prev_sched >= t.sched - interval '7 days'
LEFT JOIN weather AS w ON w.origin = t.origin AND w.as_of = t.as_of
ORDER BY scheduled_departure, t.flight_id
