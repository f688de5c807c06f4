-- Record periods of an aggregate as built (a rebuild replaces the row).
INSERT INTO ml.aggregate_periods (aggregate, period_start, period_end, source_rows, definition, build_seconds)
SELECT %(aggregate)s, p.period_start, p.period_start + %(period)s::interval, p.source_rows, %(definition)s, %(seconds)s
FROM unnest(%(starts)s::timestamptz[], %(source_rows)s::bigint[]) AS p (period_start, source_rows)
ON CONFLICT (aggregate, period_start) DO UPDATE
SET period_end = EXCLUDED.period_end, source_rows = EXCLUDED.source_rows, definition = EXCLUDED.definition,
    built_at = now(), build_seconds = EXCLUDED.build_seconds
