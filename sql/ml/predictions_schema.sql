-- Per-model predictions table and its newest-per-entity view. {key_type} is the entity key's type.
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
    PRIMARY KEY (model_name, data_interval_start, data_interval_end, model_version, {key})
);

CREATE OR REPLACE VIEW {latest_view} AS
SELECT DISTINCT ON ({key}) *
FROM {table}
WHERE is_champion
ORDER BY {key}, predicted_at DESC, data_interval_end DESC;
