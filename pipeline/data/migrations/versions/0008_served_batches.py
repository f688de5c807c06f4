"""Served batches: ``ml.served_batches``, the feature batch each published predict run scored from
(see ``sql/migrations/0008_served_batches.sql``)."""

from pipeline.data.schema import run_sql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("0008_served_batches")


def downgrade() -> None:
    run_sql("0008_served_batches_downgrade")
