SELECT 'airlines' AS table_name, count(*) AS row_count FROM raw.airlines
UNION ALL SELECT 'airports', count(*) FROM raw.airports
UNION ALL SELECT 'planes', count(*) FROM raw.planes
UNION ALL SELECT 'weather', count(*) FROM raw.weather
UNION ALL SELECT 'flights', count(*) FROM raw.flights;
