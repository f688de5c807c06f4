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
    """The version now champion and its holdout ``metrics``; ``changed`` is False when it already was
    (a retried or cleared run), and ``message`` says what happened."""

    model_name: str
    version: int
    status: str
    changed: bool
    message: str
    metrics: dict


def rollback(rt: Runtime, request: RollbackRequest) -> RollbackResult:
    """Make an earlier valid version champion again (:func:`pipeline.models.registry.rollback`); the
    change is recorded in ``ml.champion_history`` with reason ``rollback``. Needs no data interval.

    A version that is already the champion is left as it is, and the run succeeds saying so: a
    rollback run cleared or retried after it made its version champion has nothing left to do.

    Raises:
        RegistryError: ``model_name`` is not the runtime's model (``rt.cfg``), or the version is unknown
            or invalid.
        ArtifactIntegrityError, ArtifactError: its model artifact is altered or missing.
    """
    from pipeline.models import registry

    name, version = request["model_name"], request["version"]
    if name != rt.cfg.model.name:
        raise registry.RegistryError(f"rollback of {name!r} asked with the config of {rt.cfg.model.name!r}")
    row = registry.get_version(rt.warehouse, name, version)
    changed = row["status"] != "champion"
    if changed:
        row = registry.rollback(
            rt.warehouse, rt.store, name, version, request["valid_from"], request["actor"], request["note"]
        )
        message = f"{name} v{version} is champion again from {request['valid_from'].isoformat()}"
    else:
        message = f"{name} v{version} is already the champion: nothing to do"
    log.info("%s", message)
    log.info("model card: %s", registry.model_card_uri(row["artifact_uri"]))
    return RollbackResult(
        model_name=name,
        version=version,
        status=row["status"],
        changed=changed,
        message=message,
        metrics=row["metrics"],
    )
