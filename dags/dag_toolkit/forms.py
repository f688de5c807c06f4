"""What a DAG's trigger form offers that only the warehouse knows: the rollback form's versions."""

from __future__ import annotations

import logging

from dag_toolkit.connections import warehouse_url
from pipeline.config import PipelineConfig

log = logging.getLogger(__name__)


def registry_versions(cfg: PipelineConfig) -> list[dict] | str:
    """The model's versions a rollback can serve, and its champion, read from the registry at parse
    time (:func:`pipeline.models.registry.rollback_choices`, on the warehouse the tasks use), newest
    first; or, when the registry cannot be read, the reason (a string).

    The one exception to "no I/O at DAG top level": a rollback form must list the versions that exist.
    """
    from pipeline.models.registry import rollback_choices

    try:
        url = warehouse_url(cfg)
    except Exception as exc:  # a missing connection, no access to connections while parsing
        log.warning("rollback form: cannot read the warehouse connection: %s", exc)
        return "cannot read the warehouse connection (see the DAG processor's log)"
    return rollback_choices(url, cfg.model.name, cfg.promotion_metric)
