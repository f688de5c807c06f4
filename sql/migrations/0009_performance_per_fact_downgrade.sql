-- Revision 0009 down: the key of each monitor run's rows again. The repeated measurements removed by
-- the upgrade are not restored; the rows kept satisfy the older key.
DROP INDEX IF EXISTS ml.model_performance_interval;
ALTER TABLE ml.model_performance DROP CONSTRAINT IF EXISTS model_performance_pkey;
ALTER TABLE ml.model_performance ADD CONSTRAINT model_performance_pkey
    PRIMARY KEY (model_name, data_interval_start, data_interval_end, model_version, day, metric);
