-- Revision 0007: a binary classifier's performance per day, estimated from the champion's scores
-- before labels land (CBPE), next to the realized values once they have. One row per model, version
-- and day (the UTC date of the entities' timestamps, as in ml.model_performance); each monitor run
-- upserts the days of its window. estimated_at: the cutoff of the first monitor run that estimated
-- the day; as_of: the cutoff of the run that wrote the row last (a rerun of an older run does not
-- overwrite a newer one); realized_at: that run's cutoff, when the day had labels known before it.
-- No foreign key to ml.model_versions: revisions find the predictions tables as the tables that have one.
CREATE TABLE IF NOT EXISTS ml.performance_estimates (
    model_name             text             NOT NULL,
    model_version          integer          NOT NULL,
    day                    date             NOT NULL,
    rows                   bigint           NOT NULL,
    estimated_roc_auc      double precision,
    estimated_brier        double precision,
    estimated_log_loss     double precision,
    estimated_positive_rate double precision,
    labelled_rows          bigint           NOT NULL DEFAULT 0,
    realized_roc_auc       double precision,
    realized_brier         double precision,
    realized_log_loss      double precision,
    realized_positive_rate double precision,
    estimated_at           timestamptz      NOT NULL,
    realized_at            timestamptz,
    as_of                  timestamptz      NOT NULL,
    run_id                 text             NOT NULL,
    PRIMARY KEY (model_name, model_version, day)
);
