-- Session-local landing table for a batch of predictions, dropped at commit.
CREATE TEMP TABLE predictions_staging (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP;
