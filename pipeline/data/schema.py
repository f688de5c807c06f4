"""Interim: replaced by the Alembic migrations (branch db)."""

from __future__ import annotations


def upgrade(warehouse, cfg, revision: str = "head") -> str:
    from pipeline.models import predict

    warehouse.run("ml/schema")
    predict.ensure_table(warehouse, cfg.predictions, cfg.dataset.key, "bigint")
    return revision


def require_current(warehouse, cfg) -> None:
    upgrade(warehouse, cfg)
