"""Forecast window: every predictions table records each row's cutoff (``as_of``) and the scored
window (``window_start``, ``window_end``) next to the data interval (see
``sql/migrations/0005_forecast_window.sql``)."""

from pipeline.data.schema import run_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("0005_forecast_window")


def downgrade() -> None:
    run_sql("0005_forecast_window_downgrade")
