-- Revision 0009: ml.model_performance holds one row per fact, (model_name, model_version, day, metric),
-- as ml.performance_estimates does. Each monitor run measures every day of its window, so daily runs
-- with a 7-day window stored each day up to 7 times. The repeated measurements of a fact are removed,
-- keeping the latest (the run with the latest cutoff, data_interval_end); data_interval_start,
-- data_interval_end and run_id now say which monitor run measured the row last.
DELETE FROM ml.model_performance AS p
USING ml.model_performance AS newer
WHERE newer.model_name = p.model_name
  AND newer.model_version = p.model_version
  AND newer.day = p.day
  AND newer.metric = p.metric
  AND (newer.data_interval_end, newer.data_interval_start) > (p.data_interval_end, p.data_interval_start);
ALTER TABLE ml.model_performance DROP CONSTRAINT IF EXISTS model_performance_pkey;
ALTER TABLE ml.model_performance ADD CONSTRAINT model_performance_pkey
    PRIMARY KEY (model_name, model_version, day, metric);
-- A monitor run clears its own interval's rows before writing them again (sql/ml/monitor_clear.sql).
CREATE INDEX IF NOT EXISTS model_performance_interval
    ON ml.model_performance (model_name, data_interval_start, data_interval_end);
