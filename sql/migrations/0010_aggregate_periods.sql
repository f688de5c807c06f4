-- Revision 0010: the periods of each declared aggregate (dataset.aggregates) the pipeline has built
-- (pipeline/features/aggregates.py). One row per aggregate and period: its bounds, the source rows it
-- was built from, the definition it was built with (the SHA-256 of its build statements, period and
-- origin: a period built with another definition is stale and rebuilt) and when.
CREATE TABLE IF NOT EXISTS ml.aggregate_periods (
    aggregate     text             NOT NULL,
    period_start  timestamptz      NOT NULL,
    period_end    timestamptz      NOT NULL,
    source_rows   bigint           NOT NULL,
    definition    text             NOT NULL,
    built_at      timestamptz      NOT NULL DEFAULT now(),
    build_seconds double precision NOT NULL,
    PRIMARY KEY (aggregate, period_start)
);
