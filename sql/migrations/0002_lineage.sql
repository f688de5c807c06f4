-- Revision 0002: lineage of the feature query and the expectation suites a version was trained and
-- validated with. NULL on versions registered before (unknown).
ALTER TABLE ml.model_versions
    ADD COLUMN IF NOT EXISTS feature_sql_sha256 text,
    ADD COLUMN IF NOT EXISTS expectation_suites jsonb;
