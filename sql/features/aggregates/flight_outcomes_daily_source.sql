-- Source rows of aggregate flight_outcomes_daily per period in [start, end): the flights scheduled in
-- it. A day without any is a missing source period.
SELECT date_bin(%(period)s::interval, f.time_hour, %(origin)s::timestamptz) AS period_start, count(*) AS source_rows
FROM nycflights13.flights AS f
WHERE f.time_hour >= %(start)s::timestamptz AND f.time_hour < %(end)s::timestamptz
GROUP BY 1
