INSERT INTO nycflights13.holidays (day, name) VALUES (%(day)s, %(name)s);
