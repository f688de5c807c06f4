-- The built periods of an aggregate that end after a time and start before another: what a change of the
-- sources from that time on can alter (the leakage check rebuilds them).
SELECT period_start FROM ml.aggregate_periods
WHERE aggregate = %(aggregate)s AND period_end > %(after)s AND period_start < %(before)s
ORDER BY period_start
