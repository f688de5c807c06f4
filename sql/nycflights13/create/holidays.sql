-- US federal holidays around the data's year, from pandas' USFederalHolidayCalendar (created and
-- filled by seed, which then marks it as its own). Feature queries read it as a calendar: the dates
-- are published years in advance.
CREATE TABLE nycflights13.holidays (
    day  date PRIMARY KEY,
    name text NOT NULL
);
