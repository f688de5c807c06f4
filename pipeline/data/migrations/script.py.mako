"""${message}

Revision ${up_revision}, after ${down_revision | comma,n}. SQL: sql/migrations/${up_revision}_<name>.sql, and
${up_revision}_<name>_downgrade.sql to reverse it (or a downgrade that raises, saying why data would be lost).
"""

from pipeline.data.schema import run_sql

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("${up_revision}_<name>")


def downgrade() -> None:
    run_sql("${up_revision}_<name>_downgrade")
