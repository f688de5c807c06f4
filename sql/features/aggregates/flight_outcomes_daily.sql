-- Aggregate flight_outcomes_daily of the flight-delay model (config/models/flight_delay.yaml,
-- dataset.aggregates): per period (a UTC day) and key, the flights whose outcome "delayed over 15
-- minutes" became known in that period, and how many of them were delayed. The keys are the feature
-- query's rate groups: carrier, origin, dest, route, carrier_hour and flight. An outcome is known at
-- the departure, or at scheduled + 15 minutes when the flight has not left by then (then it counts as
-- delayed: a later cancellation is not known yet); the feature query's trailing rates sum these rows.
-- Rebuilds every period in [start, end) (bind parameters start, end, period, origin), idempotently.
CREATE SCHEMA IF NOT EXISTS features;
CREATE TABLE IF NOT EXISTS features.flight_outcomes_daily (
    grp          text             NOT NULL,
    k            text COLLATE "C" NOT NULL,
    period_start timestamptz      NOT NULL,
    flights      integer          NOT NULL,
    delayed      integer          NOT NULL,
    PRIMARY KEY (grp, k, period_start)
);
CREATE INDEX IF NOT EXISTS flight_outcomes_daily_period ON features.flight_outcomes_daily (period_start);
DELETE FROM features.flight_outcomes_daily
WHERE period_start >= %(start)s::timestamptz AND period_start < %(end)s::timestamptz;
INSERT INTO features.flight_outcomes_daily (grp, k, period_start, flights, delayed)
SELECT g.grp, g.k, date_bin(%(period)s::interval, o.known_at, %(origin)s::timestamptz), count(*), sum(o.delayed)
FROM (
    SELECT f.carrier, f.flight, f.origin, f.dest, f.hour,
           CASE WHEN f.dep_at <= f.sched + interval '15 minutes' THEN f.dep_at
                ELSE f.sched + interval '15 minutes' END AS known_at,
           CASE WHEN f.dep_at <= f.sched + interval '15 minutes' THEN 0 ELSE 1 END AS delayed
    FROM (
        SELECT x.*, x.time_hour + make_interval(mins => x.minute) AS sched,
               x.time_hour + make_interval(mins => x.minute) + make_interval(mins => x.dep_delay::int) AS dep_at
        FROM nycflights13.flights AS x
        -- an outcome is known at most 15 minutes after schedule, and a flight leaves at most a day early
        WHERE x.time_hour >= %(start)s::timestamptz - interval '2 hours'
          AND x.time_hour < %(end)s::timestamptz + interval '1 day'
    ) AS f
) AS o
CROSS JOIN LATERAL (VALUES ('carrier', o.carrier), ('origin', o.origin), ('dest', o.dest),
                           ('route', o.origin || '-' || o.dest), ('carrier_hour', o.carrier || '@' || o.hour),
                           ('flight', o.carrier || o.flight || '@' || o.origin))
    AS g (grp, k)
WHERE o.known_at >= %(start)s::timestamptz AND o.known_at < %(end)s::timestamptz
GROUP BY 1, 2, 3
