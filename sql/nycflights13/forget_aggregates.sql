-- Seed reloaded the sources: forget every built aggregate period (pipeline/features/aggregates.py), so
-- the next feature extraction rebuilds what it reads from the new rows. No-op before the ml schema exists.
DO $$
BEGIN
    IF to_regclass('ml.aggregate_periods') IS NOT NULL THEN
        DELETE FROM ml.aggregate_periods;
    END IF;
END
$$
