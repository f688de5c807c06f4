-- Stored rows per period start in [start, end) (the periods of the store's grid: period, origin).
SELECT date_bin(%(period)s::interval, {timestamp}::timestamptz, %(origin)s::timestamptz) AS period_start,
       count(*) AS n
FROM {table}
WHERE {timestamp} >= %(start)s AND {timestamp} < %(end)s
GROUP BY 1
