"""Many models: validation results keyed by model (one row per attempt), lineage of the feature
query's text and the config's SHA-256, and a task-neutral ``prediction`` column in every predictions
table (see ``sql/migrations/0003_models.sql``)."""

from pipeline.data.schema import run_sql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("0003_models")


def downgrade() -> None:
    run_sql("0003_models_downgrade")
