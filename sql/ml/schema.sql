-- The ML layer: model registry, validation results. Idempotent.
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
    model_sha256           text        NOT NULL,
    artifact_uri           text        NOT NULL,
    code_version           text        NOT NULL,
    dag_id                 text        NOT NULL,
    run_id                 text        NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    decision               text        CHECK (decision IN ('promoted', 'rejected', 'forced')),
    decision_reason        text,
    champion_metric        double precision,
    decided_at             timestamptz,
    PRIMARY KEY (model_name, version)
);
CREATE UNIQUE INDEX IF NOT EXISTS model_versions_one_champion
    ON ml.model_versions (model_name) WHERE status = 'champion';

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
