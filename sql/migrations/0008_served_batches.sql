-- Revision 0008: the feature batch each published predict run scored from (pipeline/features/batch.py).
-- One row per model and run, written in the transaction that publishes the run's predictions (a
-- republish of the run replaces it): the data interval, the cutoff (as_of), the scored window, the
-- batch manifest's
-- artifact key (below artifacts.root) and its rows. A prediction row's (model_name, run_id) finds the
-- features it was scored from.
CREATE TABLE IF NOT EXISTS ml.served_batches (
    model_name          text        NOT NULL,
    run_id              text        NOT NULL,
    data_interval_start timestamptz NOT NULL,
    data_interval_end   timestamptz NOT NULL,
    as_of               timestamptz NOT NULL,
    window_start        timestamptz NOT NULL,
    window_end          timestamptz NOT NULL,
    manifest            text        NOT NULL,
    rows                bigint      NOT NULL,
    published_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_name, run_id)
);
CREATE INDEX IF NOT EXISTS served_batches_as_of ON ml.served_batches (model_name, as_of);
CREATE INDEX IF NOT EXISTS served_batches_window ON ml.served_batches (model_name, window_start);
