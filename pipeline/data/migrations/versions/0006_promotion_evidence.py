"""Promotion gate evidence: ``ml.model_versions.decision_evidence`` (jsonb), the gate's intervals behind
each promotion decision (see ``sql/migrations/0006_promotion_evidence.sql``)."""

from pipeline.data.schema import run_sql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("0006_promotion_evidence")


def downgrade() -> None:
    run_sql("0006_promotion_evidence_downgrade")
