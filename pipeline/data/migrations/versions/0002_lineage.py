"""Lineage: the SHA-256 of the feature query and of each expectation suite a version was trained with.

``ml.model_versions.feature_sql_sha256`` (text) and ``expectation_suites`` (jsonb: suite file name ->
SHA-256); NULL for versions registered before this revision.
"""

from pipeline.data.schema import run_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("0002_lineage")


def downgrade() -> None:
    run_sql("0002_lineage_downgrade")
