"""Aggregate periods: ``ml.aggregate_periods``, the periods of each declared aggregate the pipeline
has built (see ``sql/migrations/0010_aggregate_periods.sql``)."""

from pipeline.data.schema import run_sql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("0010_aggregate_periods")


def downgrade() -> None:
    run_sql("0010_aggregate_periods_downgrade")
