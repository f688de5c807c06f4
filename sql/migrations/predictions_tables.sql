-- A model's predictions table at the head revision's shape, its staging table, its newest-per-entity
-- view and the champion/challenger comparison. The key columns come first, with the types the feature
-- query returns, then the task's outputs (prediction, plus score and predicted_label for a classifier). Run by the first `predict` of each model (IF NOT EXISTS: an
-- existing table is left to the revisions, which alter every deployed predictions table). as_of is the
-- run's cutoff, window_start and window_end the entity timestamps it scored.

CREATE SCHEMA IF NOT EXISTS {schema};

CREATE TABLE IF NOT EXISTS {table} (
    {key_columns},
    {output_columns},
    model_name          text             NOT NULL,
    model_version       integer          NOT NULL,
    is_champion         boolean          NOT NULL,
    predicted_at        timestamptz      NOT NULL DEFAULT now(),
    data_interval_start timestamptz      NOT NULL,
    data_interval_end   timestamptz      NOT NULL,
    as_of               timestamptz      NOT NULL,
    window_start        timestamptz      NOT NULL,
    window_end          timestamptz      NOT NULL,
    run_id              text             NOT NULL,
    PRIMARY KEY (model_name, data_interval_start, data_interval_end, model_version, {key}),
    FOREIGN KEY (model_name, model_version) REFERENCES ml.model_versions (model_name, version)
);

-- Publish replaces an entity's rows whatever interval wrote them: it finds them by key.
CREATE INDEX IF NOT EXISTS {entity_index} ON {table} (model_name, {key});

-- Where a predict run's partitions land before the interval is published (unlogged: a crash loses
-- only staging rows, which the retry writes again).
CREATE UNLOGGED TABLE IF NOT EXISTS {staging} (LIKE {table} INCLUDING DEFAULTS, partition integer NOT NULL);
CREATE INDEX IF NOT EXISTS {staging_index} ON {staging} (run_id, model_name, data_interval_start, partition);

CREATE OR REPLACE VIEW {latest_view} AS
SELECT DISTINCT ON ({key}) *
FROM {table}
WHERE is_champion
ORDER BY {key}, predicted_at DESC, data_interval_end DESC;

-- Champion against each shadow challenger, per data interval, on the same entities.
CREATE OR REPLACE VIEW {comparison_view} AS
SELECT c.model_name, c.data_interval_start, c.data_interval_end,
       c.model_version AS champion_version, s.model_version AS challenger_version,
       count(*) AS entities,
       avg(c.prediction) AS champion_mean_prediction, avg(s.prediction) AS challenger_mean_prediction,
       avg(abs(c.prediction - s.prediction)) AS mean_abs_prediction_difference
FROM {table} AS c
JOIN {table} AS s
  ON s.model_name = c.model_name AND s.data_interval_start = c.data_interval_start
 AND s.data_interval_end = c.data_interval_end AND {key_join} AND NOT s.is_champion
WHERE c.is_champion
GROUP BY 1, 2, 3, 4, 5;
