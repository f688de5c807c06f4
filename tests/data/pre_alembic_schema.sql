-- A warehouse as the pipeline created it before migrations (sql/ml/schema.sql and
-- sql/ml/predictions_schema.sql for the flights model, as of commit 1a4230d): the starting point of
-- the test that upgrading adopts it in place.
-- The ML layer: model registry, validation results. Idempotent.
SELECT pg_advisory_xact_lock(hashtext('pipeline ddl'));  -- concurrent tasks run this DDL too

CREATE SCHEMA IF NOT EXISTS ml;

-- One row per trained model version. status: pending (artifacts being written), failed (never
-- usable), candidate (registered, not promoted), champion (serves predictions; one per model),
-- archived (a former champion).
CREATE TABLE IF NOT EXISTS ml.model_versions (
    model_name             text        NOT NULL,
    version                integer     NOT NULL CHECK (version > 0),
    status                 text        NOT NULL CHECK (status IN ('pending', 'failed', 'candidate', 'champion', 'archived')),
    metrics                jsonb       NOT NULL,
    baseline_metrics       jsonb       NOT NULL,
    params                 jsonb       NOT NULL,
    train_start            timestamptz NOT NULL,
    train_end              timestamptz NOT NULL,
    holdout_start          timestamptz NOT NULL,
    holdout_end            timestamptz NOT NULL,
    train_rows             bigint      NOT NULL,
    holdout_rows           bigint      NOT NULL,
    training_data_sha256   text        NOT NULL,
    training_data_uri      text        NOT NULL,
    validation_uri         text        NOT NULL,
    model_sha256           text        NOT NULL,
    artifact_uri           text        NOT NULL,
    config                 jsonb       NOT NULL,
    code_version           text        NOT NULL,
    sklearn_version        text        NOT NULL,
    python_version         text        NOT NULL,
    dag_id                 text        NOT NULL,
    run_id                 text        NOT NULL,
    dag_version            text,
    reproduces_version     integer,
    created_at             timestamptz NOT NULL DEFAULT now(),
    decision               text        CHECK (decision IN ('promoted', 'rejected', 'forced')),
    decision_reason        text,
    champion_metric        double precision,
    decided_at             timestamptz,
    PRIMARY KEY (model_name, version)
);
CREATE UNIQUE INDEX IF NOT EXISTS model_versions_one_champion
    ON ml.model_versions (model_name) WHERE status = 'champion';

-- Every change of champion, never updated or deleted. valid_from is logical (data) time: the data
-- interval end of the run that made the change, or the time given to a manual rollback; changed_at is
-- the wall-clock time of the change. reason: promoted (passed the promotion gate), forced, rollback.
CREATE TABLE IF NOT EXISTS ml.champion_history (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_name        text        NOT NULL,
    old_version       integer,
    new_version       integer     NOT NULL,
    valid_from        timestamptz NOT NULL,
    changed_at        timestamptz NOT NULL DEFAULT now(),
    reason            text        NOT NULL CHECK (reason IN ('promoted', 'forced', 'rollback')),
    actor             text        NOT NULL,
    detail            text        NOT NULL,
    metric            text,
    new_metric        double precision,
    old_metric        double precision,
    FOREIGN KEY (model_name, new_version) REFERENCES ml.model_versions (model_name, version)
);
CREATE INDEX IF NOT EXISTS champion_history_lookup ON ml.champion_history (model_name, valid_from);

-- Champion periods: which version was live over [valid_from, valid_to) in logical time.
CREATE OR REPLACE VIEW ml.champion_periods AS
SELECT model_name, new_version AS version, reason, actor, valid_from,
       lead(valid_from) OVER (PARTITION BY model_name ORDER BY valid_from, id) AS valid_to,
       changed_at, detail
FROM ml.champion_history;

-- One row per expectation-suite run on a batch.
CREATE TABLE IF NOT EXISTS ml.validation_results (
    dag_id              text        NOT NULL,
    run_id              text        NOT NULL,
    batch_kind          text        NOT NULL,
    suite_name          text        NOT NULL,
    data_interval_start timestamptz NOT NULL,
    data_interval_end   timestamptz NOT NULL,
    row_count           bigint      NOT NULL,
    success             boolean     NOT NULL,
    evaluated           integer     NOT NULL,
    failed              integer     NOT NULL,
    failed_expectations jsonb       NOT NULL,
    artifact_uri        text        NOT NULL,
    validated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dag_id, run_id, batch_kind)
);

-- Monitoring, one set of rows per monitor run's data interval (a rerun replaces them).
-- Feature drift (kind numeric/categorical) and prediction drift (feature 'score', kind 'prediction'):
-- the window [window_start, data_interval_end) against the champion's training data / holdout scores.
CREATE TABLE IF NOT EXISTS ml.feature_drift (
    model_name          text             NOT NULL,
    model_version       integer          NOT NULL,
    data_interval_start timestamptz      NOT NULL,
    data_interval_end   timestamptz      NOT NULL,
    window_start        timestamptz      NOT NULL,
    feature             text             NOT NULL,
    kind                text             NOT NULL,
    metric              text             NOT NULL,
    value               double precision,
    threshold           double precision,
    drifted             boolean          NOT NULL,
    reference_rows      bigint           NOT NULL,
    current_rows        bigint           NOT NULL,
    run_id              text             NOT NULL,
    PRIMARY KEY (model_name, data_interval_start, data_interval_end, feature, metric)
);

-- Realized performance of the predictions actually made, per day and model version, once labels exist.
CREATE TABLE IF NOT EXISTS ml.model_performance (
    model_name          text             NOT NULL,
    model_version       integer          NOT NULL,
    data_interval_start timestamptz      NOT NULL,
    data_interval_end   timestamptz      NOT NULL,
    day                 date             NOT NULL,
    metric              text             NOT NULL,
    value               double precision,
    run_id              text             NOT NULL,
    PRIMARY KEY (model_name, data_interval_start, data_interval_end, model_version, day, metric)
);

-- Each monitor run's retrain decision and why.
CREATE TABLE IF NOT EXISTS ml.retrain_triggers (
    model_name          text        NOT NULL,
    data_interval_start timestamptz NOT NULL,
    data_interval_end   timestamptz NOT NULL,
    champion_version    integer     NOT NULL,
    retrain             boolean     NOT NULL,
    suppressed          boolean     NOT NULL,
    reasons             jsonb       NOT NULL,
    run_id              text        NOT NULL,
    decided_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_name, data_interval_start, data_interval_end)
);


-- Per-model predictions table, its newest-per-entity view, and the champion/challenger comparison. bigint is the entity key's type.
SELECT pg_advisory_xact_lock(hashtext('pipeline ddl'));  -- concurrent tasks run this DDL too

CREATE SCHEMA IF NOT EXISTS ml;

CREATE TABLE IF NOT EXISTS ml.flight_delay_predictions (
    flight_id               bigint       NOT NULL,
    score               double precision NOT NULL CHECK (score BETWEEN 0 AND 1),
    predicted_label     smallint         NOT NULL,
    model_name          text             NOT NULL,
    model_version       integer          NOT NULL,
    is_champion         boolean          NOT NULL,
    predicted_at        timestamptz      NOT NULL DEFAULT now(),
    data_interval_start timestamptz      NOT NULL,
    data_interval_end   timestamptz      NOT NULL,
    run_id              text             NOT NULL,
    PRIMARY KEY (model_name, data_interval_start, data_interval_end, model_version, flight_id),
    FOREIGN KEY (model_name, model_version) REFERENCES ml.model_versions (model_name, version)
);

-- Where a predict run's partitions land before the interval is published (unlogged: a crash loses
-- only staging rows, which the retry writes again).
CREATE UNLOGGED TABLE IF NOT EXISTS ml.flight_delay_predictions_staging (LIKE ml.flight_delay_predictions INCLUDING DEFAULTS, partition integer NOT NULL);
CREATE INDEX IF NOT EXISTS flight_delay_predictions_staging_run ON ml.flight_delay_predictions_staging (run_id, model_name, data_interval_start, partition);

CREATE OR REPLACE VIEW ml.flight_delay_predictions_latest AS
SELECT DISTINCT ON (flight_id) *
FROM ml.flight_delay_predictions
WHERE is_champion
ORDER BY flight_id, predicted_at DESC, data_interval_end DESC;

-- Champion against each shadow challenger, per data interval, on the same entities.
CREATE OR REPLACE VIEW ml.flight_delay_predictions_shadow_comparison AS
SELECT c.model_name, c.data_interval_start, c.data_interval_end,
       c.model_version AS champion_version, s.model_version AS challenger_version,
       count(*) AS entities,
       avg(c.score) AS champion_mean_score, avg(s.score) AS challenger_mean_score,
       avg(abs(c.score - s.score)) AS mean_abs_score_difference,
       avg((c.predicted_label = s.predicted_label)::int) AS label_agreement
FROM ml.flight_delay_predictions AS c
JOIN ml.flight_delay_predictions AS s
  ON s.model_name = c.model_name AND s.data_interval_start = c.data_interval_start
 AND s.data_interval_end = c.data_interval_end AND s.flight_id = c.flight_id AND NOT s.is_champion
WHERE c.is_champion
GROUP BY 1, 2, 3, 4, 5;
