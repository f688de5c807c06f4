-- Downgrade of revision 0006: the evidence column goes (the decision and its reason, which quotes the
-- intervals, stay).
ALTER TABLE ml.model_versions DROP COLUMN IF EXISTS decision_evidence;
