-- Revision 0002, reversed: drop the lineage columns (their values are lost).
ALTER TABLE ml.model_versions
    DROP COLUMN IF EXISTS feature_sql_sha256,
    DROP COLUMN IF EXISTS expectation_suites;
