"""The model registry: ``ml.model_versions`` in the warehouse plus each version's artifacts.

A version's life: ``pending`` (row reserved, artifacts being written) -> ``candidate`` (all
artifacts written, manifest last) or ``failed``; then a promotion decision makes it ``champion``
(the previous champion becomes ``archived``) or leaves it ``candidate`` with decision ``rejected``.
Version numbers are allocated under an advisory lock and never reused; artifacts live under the
immutable prefix ``<model name>/<version>/`` of the artifact root.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass
from typing import Any

import joblib
from psycopg2.extras import Json
from sklearn.pipeline import Pipeline

from pipeline.data.artifacts import ArtifactStore
from pipeline.data.warehouse import Warehouse, fetch
from pipeline.errors import PermanentError

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"


class RegistryError(PermanentError, RuntimeError):
    """A registry request cannot be served (unknown version, no champion, state conflict)."""


class ArtifactIntegrityError(RegistryError):
    """A model artifact's SHA-256 differs from the one recorded at registration: it was altered."""


def version_prefix(model_name: str, version: int) -> str:
    """The immutable artifact prefix of a model version, ``<model name>/<version>``."""
    return f"{model_name}/{version}"


def serialize_model(pipeline: Pipeline) -> tuple[bytes, str]:
    """The fitted pipeline as joblib bytes, and their SHA-256 (hex)."""
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer)
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class NewVersion:
    """What :func:`register` records about a trained model. Times are timezone-aware datetimes."""

    model_name: str
    metrics: dict[str, Any]
    baseline_metrics: dict[str, Any]
    params: dict[str, Any]
    train_start: Any
    train_end: Any
    holdout_start: Any
    holdout_end: Any
    train_rows: int
    holdout_rows: int
    training_data_sha256: str
    code_version: str
    dag_id: str
    run_id: str


def register(
    warehouse: Warehouse,
    store: ArtifactStore,
    new: NewVersion,
    model_bytes: bytes,
    model_sha256: str,
    artifacts: dict[str, bytes],
) -> dict:
    """Allocate the next version, write its artifacts, and record it as ``candidate``.

    The row is committed as ``pending`` first, so the version number is reserved before anything is
    written to storage. Artifacts are written with ``overwrite=False``, the manifest (every file's
    SHA-256) last. Any failure marks the row ``failed``: the version is never served or reused.

    Args:
        artifacts: file name -> bytes, written beside the model under the version prefix.

    Returns:
        The version's registry row as a dict.

    Raises:
        ArtifactError, WarehouseError: storage or database failure (the row is then ``failed``).
    """
    lock = {"lock_key": f"model_versions:{new.model_name}"}
    with warehouse.transaction() as cur:
        fetch(cur, "ml/advisory_lock", lock)
        version = fetch(cur, "ml/registry_next_version", {"model_name": new.model_name})[0]["version"]
        prefix = version_prefix(new.model_name, version)
        row = {
            **new.__dict__,
            "version": version,
            "model_sha256": model_sha256,
            "artifact_uri": store.uri(prefix),
            "metrics": Json(new.metrics),
            "baseline_metrics": Json(new.baseline_metrics),
            "params": Json(new.params),
        }
        fetch(cur, "ml/registry_insert", row)
    try:
        files = {MODEL_FILE: model_bytes, **artifacts}
        for name, data in files.items():
            store.put(f"{prefix}/{name}", data)
        manifest = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
        store.put(f"{prefix}/{MANIFEST_FILE}", json.dumps(manifest, indent=2, sort_keys=True).encode())
        _set_status(warehouse, new.model_name, version, "pending", "candidate")
    except BaseException:
        _set_status(warehouse, new.model_name, version, "pending", "failed")
        log.exception("registration of %s v%d failed; marked failed", new.model_name, version)
        raise
    log.info("registered %s v%d at %s", new.model_name, version, store.uri(prefix))
    return get_version(warehouse, new.model_name, version)


def _set_status(warehouse: Warehouse, model_name: str, version: int, from_status: str, status: str) -> None:
    warehouse.run(
        "ml/registry_set_status",
        {"model_name": model_name, "version": version, "from_status": from_status, "status": status},
    )


def get_version(warehouse: Warehouse, model_name: str, version: int) -> dict:
    """The registry row of ``model_name`` version ``version``.

    Raises:
        RegistryError: no such version of that model.
    """
    rows = warehouse.fetch("ml/registry_get", {"model_name": model_name, "version": version})
    if not rows:
        raise RegistryError(f"model {model_name!r} has no version {version}")
    return rows[0]


def champion(warehouse: Warehouse, model_name: str) -> dict | None:
    """The current champion's registry row, or None when the model has none."""
    rows = warehouse.fetch("ml/registry_champion", {"model_name": model_name})
    return rows[0] if rows else None


def decide(
    warehouse: Warehouse,
    model_name: str,
    version: int,
    decision: str,
    reason: str,
    champion_metric: float | None,
    expected_champion: int | None,
) -> dict:
    """Record a promotion decision; for ``promoted`` or ``forced`` make the version champion.

    Runs in one transaction under the model's registry lock. ``expected_champion`` is the champion
    version the challenger was compared against; if another version became champion meanwhile,
    the challenger is rejected rather than promoted on a stale comparison.

    Returns:
        The version's updated registry row.

    Raises:
        RegistryError: the version is not an undecided ``candidate``.
    """
    with warehouse.transaction() as cur:
        fetch(cur, "ml/advisory_lock", {"lock_key": f"model_versions:{model_name}"})
        current = fetch(cur, "ml/registry_champion", {"model_name": model_name})
        current_version = current[0]["version"] if current else None
        if decision == "promoted" and current_version != expected_champion:
            decision, reason = (
                "rejected",
                (
                    f"champion changed from {expected_champion} to {current_version} "
                    "during this run; retrain to compare against it"
                ),
            )
        promote = decision in ("promoted", "forced")
        if promote:
            fetch(cur, "ml/registry_archive_champion", {"model_name": model_name})
        fetch(
            cur,
            "ml/registry_decide",
            {
                "model_name": model_name,
                "version": version,
                "decision": decision,
                "reason": reason,
                "champion_metric": champion_metric,
                "status": "champion" if promote else "candidate",
            },
        )
        if cur.rowcount != 1:
            raise RegistryError(f"{model_name} v{version} is not an undecided candidate")
    log.info("%s v%d: %s (%s)", model_name, version, decision, reason)
    return get_version(warehouse, model_name, version)


def load_model(store: ArtifactStore, record: dict) -> Pipeline:
    """Load a registered model after checking its bytes against the SHA-256 in the registry.

    Args:
        record: a registry row (``model_name``, ``version``, ``model_sha256``).

    Raises:
        ArtifactIntegrityError: the stored bytes differ from those registered (tampering or
            corruption); nothing is unpickled.
        ArtifactError: the artifact cannot be read.
    """
    data = store.get(f"{version_prefix(record['model_name'], record['version'])}/{MODEL_FILE}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != record["model_sha256"]:
        raise ArtifactIntegrityError(
            f"{record['model_name']} v{record['version']}: model artifact SHA-256 {digest} "
            f"differs from the registered {record['model_sha256']}; refusing to load it"
        )
    return joblib.load(io.BytesIO(data))
