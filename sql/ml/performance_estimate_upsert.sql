-- One day of a model version's estimated and realized performance (ml.performance_estimates). A rerun
-- of the same monitor interval writes the same row again; a run older than the row's as_of changes nothing.
INSERT INTO ml.performance_estimates AS t (
    model_name, model_version, day, rows, estimated_roc_auc, estimated_brier, estimated_log_loss,
    estimated_positive_rate, labelled_rows, realized_roc_auc, realized_brier, realized_log_loss,
    realized_positive_rate, estimated_at, realized_at, as_of, run_id
) VALUES (
    %(model_name)s, %(model_version)s, %(day)s, %(rows)s, %(estimated_roc_auc)s, %(estimated_brier)s,
    %(estimated_log_loss)s, %(estimated_positive_rate)s, %(labelled_rows)s, %(realized_roc_auc)s,
    %(realized_brier)s, %(realized_log_loss)s, %(realized_positive_rate)s, %(as_of)s, %(realized_at)s,
    %(as_of)s, %(run_id)s
)
ON CONFLICT (model_name, model_version, day) DO UPDATE SET
    rows = excluded.rows,
    estimated_roc_auc = excluded.estimated_roc_auc,
    estimated_brier = excluded.estimated_brier,
    estimated_log_loss = excluded.estimated_log_loss,
    estimated_positive_rate = excluded.estimated_positive_rate,
    labelled_rows = excluded.labelled_rows,
    realized_roc_auc = excluded.realized_roc_auc,
    realized_brier = excluded.realized_brier,
    realized_log_loss = excluded.realized_log_loss,
    realized_positive_rate = excluded.realized_positive_rate,
    estimated_at = least(t.estimated_at, excluded.estimated_at),
    realized_at = excluded.realized_at,
    as_of = excluded.as_of,
    run_id = excluded.run_id
WHERE excluded.as_of >= t.as_of
