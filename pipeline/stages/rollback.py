"""The rollback DAG's stage: make an earlier valid model version champion again."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TypedDict

from pipeline.stages.runtime import Runtime

log = logging.getLogger(__name__)


class RollbackRequest(TypedDict):
    """Which version to serve again, from when (logical time, tz-aware), who asks and why."""

    model_name: str
    version: int
    valid_from: dt.datetime
    actor: str
    note: str


class RollbackResult(TypedDict):
    """The version now champion."""

    model_name: str
    version: int
    status: str


def rollback(rt: Runtime, request: RollbackRequest) -> RollbackResult:
    """Make an earlier valid version champion again (:func:`pipeline.models.registry.rollback`); the
    change is recorded in ``ml.champion_history`` with reason ``rollback``. Needs no data interval.

    Raises:
        RegistryError: ``model_name`` is not the runtime's model (``rt.cfg``), or the version is unknown
            or invalid.
        ArtifactIntegrityError, ArtifactError: its model artifact is altered or missing.
    """
    from pipeline.models import registry

    if request["model_name"] != rt.cfg.model.name:
        raise registry.RegistryError(
            f"rollback of {request['model_name']!r} asked with the config of {rt.cfg.model.name!r}"
        )
    row = registry.rollback(
        rt.warehouse,
        rt.store,
        request["model_name"],
        request["version"],
        request["valid_from"],
        request["actor"],
        request["note"],
    )
    log.info("model card: %s", registry.model_card_uri(row["artifact_uri"]))
    return RollbackResult(model_name=row["model_name"], version=row["version"], status=row["status"])
