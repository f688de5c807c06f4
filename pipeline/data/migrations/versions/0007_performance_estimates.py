"""Performance estimates: ``ml.performance_estimates``, one row per model version and day, with the
champion's estimated ROC AUC, Brier score and log loss from its scores alone (CBPE,
:mod:`pipeline.monitoring.estimate`) next to the realized values once labels land (see
``sql/migrations/0007_performance_estimates.sql``)."""

from pipeline.data.schema import run_sql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("0007_performance_estimates")


def downgrade() -> None:
    run_sql("0007_performance_estimates_downgrade")
