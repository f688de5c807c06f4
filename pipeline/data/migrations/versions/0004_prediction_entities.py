"""Prediction entities: an index on (model_name, key columns) of every predictions table, with which
publish finds and replaces an entity's earlier rows whichever interval wrote them (see
``sql/migrations/0004_prediction_entities.sql``)."""

from pipeline.data.schema import run_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("0004_prediction_entities")


def downgrade() -> None:
    run_sql("0004_prediction_entities_downgrade")
