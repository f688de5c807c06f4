"""Realized performance per fact: ``ml.model_performance`` keyed by (model, version, day, metric), its
repeated measurements removed, the latest kept (see ``sql/migrations/0009_performance_per_fact.sql``)."""

from pipeline.data.schema import run_sql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("0009_performance_per_fact")


def downgrade() -> None:
    run_sql("0009_performance_per_fact_downgrade")
