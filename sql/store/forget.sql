-- Forget every recorded period of a store (its table is recreated): the records of ml.aggregate_periods
-- under its name.
DELETE FROM ml.aggregate_periods WHERE aggregate = %(aggregate)s
