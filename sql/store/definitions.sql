-- The definitions a store's recorded periods were built with.
SELECT DISTINCT definition FROM ml.aggregate_periods WHERE aggregate = %(aggregate)s
