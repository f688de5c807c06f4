"""Baseline: the ml schema as the pipeline created it before migrations.

Registry (``ml.model_versions``), champion history and periods, validation results, feature drift,
realized performance and retrain triggers. Written with IF NOT EXISTS, so that a warehouse made by
that code is adopted in place. No downgrade: it would drop the registry.
"""

from pipeline.data.schema import run_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("0001_baseline")


def downgrade() -> None:
    raise RuntimeError("the baseline is not downgraded: that would drop the registry and every prediction")
