-- Revision 0001, the baseline: the ml schema as the pipeline created it before migrations (registry,
-- champion history, validation results, monitoring). IF NOT EXISTS throughout, so that a warehouse
-- made by that code is adopted in place, rows and all.
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
