"""${message}

Revision ${up_revision}, after ${down_revision | comma,n}. SQL: sql/migrations/${up_revision}_<name>.sql
"""

from pipeline.data.schema import run_sql

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("${up_revision}_<name>")


def downgrade() -> None:
    raise NotImplementedError("write sql/migrations/${up_revision}_<name>_downgrade.sql, or state why not")
