-- The first period of an aggregate built from source data: where its history begins.
SELECT min(period_start) AS first_period FROM ml.aggregate_periods WHERE aggregate = %(aggregate)s AND source_rows > 0
