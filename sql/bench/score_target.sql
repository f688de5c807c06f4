-- Landing table of the scoring benchmark's fallback path: the predictions table's columns, no index
-- (as the staging table a partition is written to).
DROP TABLE IF EXISTS {table};
CREATE TABLE {table} (
    flight_id           bigint           NOT NULL,
    score               double precision NOT NULL,
    predicted_label     smallint         NOT NULL,
    model_name          text             NOT NULL,
    model_version       integer          NOT NULL,
    is_champion         boolean          NOT NULL,
    data_interval_start timestamptz      NOT NULL,
    data_interval_end   timestamptz      NOT NULL,
    run_id              text             NOT NULL
)
