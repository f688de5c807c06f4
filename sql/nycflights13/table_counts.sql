SELECT 'airlines' AS table_name, count(*) AS row_count FROM nycflights13.airlines
UNION ALL SELECT 'airports', count(*) FROM nycflights13.airports
UNION ALL SELECT 'planes', count(*) FROM nycflights13.planes
UNION ALL SELECT 'weather', count(*) FROM nycflights13.weather
UNION ALL SELECT 'flights', count(*) FROM nycflights13.flights;
