-- The periods of an aggregate built in [start, end), with the definition each was built with.
SELECT period_start, definition
FROM ml.aggregate_periods
WHERE aggregate = %(aggregate)s AND period_start >= %(start)s AND period_start < %(end)s
ORDER BY period_start
