-- Revision 0006: each promotion decision keeps its evidence (JSON: the gate's rule, confidence, bootstrap
-- resamples, holdout rows, and per compared metric both values, the difference, its interval and the
-- tolerance), so the registry shows why a challenger was promoted or refused. NULL for decisions made
-- before this revision and for those without a champion to compare (the baseline gate).
ALTER TABLE ml.model_versions ADD COLUMN IF NOT EXISTS decision_evidence jsonb;
