-- A model's predictions table at the head revision's shape, its staging table, its newest-per-entity
-- view and the champion/challenger comparison; {key_type} is the entity key's type, as the feature
-- query returns it. Run by `pipeline db upgrade` for each configured model (IF NOT EXISTS: an existing
-- table is left to the revisions, which alter every deployed predictions table).

CREATE SCHEMA IF NOT EXISTS {schema};

CREATE TABLE IF NOT EXISTS {table} (
    {key}               {key_type}       NOT NULL,
    score               double precision NOT NULL CHECK (score BETWEEN 0 AND 1),
    predicted_label     smallint         NOT NULL,
    model_name          text             NOT NULL,
    model_version       integer          NOT NULL,
    is_champion         boolean          NOT NULL,
    predicted_at        timestamptz      NOT NULL DEFAULT now(),
    data_interval_start timestamptz      NOT NULL,
    data_interval_end   timestamptz      NOT NULL,
    run_id              text             NOT NULL,
    PRIMARY KEY (model_name, data_interval_start, data_interval_end, model_version, {key}),
    FOREIGN KEY (model_name, model_version) REFERENCES ml.model_versions (model_name, version)
);

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
       avg(c.score) AS champion_mean_score, avg(s.score) AS challenger_mean_score,
       avg(abs(c.score - s.score)) AS mean_abs_score_difference,
       avg((c.predicted_label = s.predicted_label)::int) AS label_agreement
FROM {table} AS c
JOIN {table} AS s
  ON s.model_name = c.model_name AND s.data_interval_start = c.data_interval_start
 AND s.data_interval_end = c.data_interval_end AND s.{key} = c.{key} AND NOT s.is_champion
WHERE c.is_champion
GROUP BY 1, 2, 3, 4, 5;
