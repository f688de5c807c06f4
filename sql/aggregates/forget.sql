-- Forget the built periods of an aggregate that start in [start, end): a restatement rebuilds them from the
-- sources as they are now, in the same transaction.
DELETE FROM ml.aggregate_periods
WHERE aggregate = %(aggregate)s AND period_start >= %(start)s AND period_start < %(end)s
