-- Landing table of the write benchmark: the six columns of a prediction row, no index (as a staging table).
DROP TABLE IF EXISTS {table};
CREATE TABLE {table} (
    flight_id       bigint           NOT NULL,
    model_version   text             NOT NULL,
    run_id          text             NOT NULL,
    predicted_at    timestamptz      NOT NULL,
    score           double precision NOT NULL,
    predicted_label smallint         NOT NULL
)
