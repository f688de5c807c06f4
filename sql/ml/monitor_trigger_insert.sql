INSERT INTO ml.retrain_triggers (
    model_name, data_interval_start, data_interval_end, champion_version, retrain, suppressed, reasons, run_id,
    evidence
) VALUES (
    %(model_name)s, %(start)s, %(end)s, %(champion_version)s, %(retrain)s, %(suppressed)s, %(reasons)s, %(run_id)s,
    %(evidence)s
)
