"""The model registry: ``ml.model_versions`` in the warehouse plus each version's artifacts.

A version's life: ``pending`` (row reserved, artifacts being written) -> ``candidate`` (all
artifacts written, manifest last) or ``failed``; then a promotion decision makes it ``champion``
(the previous champion becomes ``archived``) or leaves it ``candidate`` with decision ``rejected``.
A version left ``pending`` by a killed retrain is marked ``failed`` by :func:`fail_stale_pending`.
Version numbers are allocated under an advisory lock and never reused; artifacts live under the
immutable prefix ``<model name>/<version>/`` of the artifact root. Why a version failed is kept in
its ``decision_reason``.

Light to import: the rollback DAG reads the registry when its file is parsed
(:func:`rollback_choices`), so the warehouse module (pandas, pyarrow), scikit-learn and joblib are
imported by the functions that use them.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import tenacity
from psycopg2.extras import Json

from pipeline.config import PROJECT_ROOT
from pipeline.data.artifacts import ArtifactError, ArtifactExistsError, ArtifactStore
from pipeline.errors import PermanentError

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from pipeline.data.warehouse import Warehouse

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
TRAINING_DATA_FILE = "training_data.parquet"
VALIDATION_FILE = "validation.json"
MODEL_CARD_FILE = "model_card.html"
# Each artifact write of a registration is tried this many times, waiting 1 s, 2 s, 4 s... (at most
# WRITE_MAX_WAIT_S) between tries, before the version is given up as failed: a passing store fault
# costs a few seconds, not a retrain and a burnt version number.
WRITE_ATTEMPTS = 4
WRITE_MAX_WAIT_S = 10.0


class RegistryError(PermanentError, RuntimeError):
    """A registry request cannot be served (unknown version, no champion, state conflict)."""


class NoChampionError(RegistryError):
    """The model has no champion, so there is nothing to score or monitor."""


class ArtifactIntegrityError(RegistryError):
    """A model artifact's SHA-256 differs from the one recorded at registration: it was altered."""


def version_prefix(model_name: str, version: int) -> str:
    """The immutable artifact prefix of a model version, ``<model name>/<version>``."""
    return f"{model_name}/{version}"


def model_card_uri(artifact_uri: str) -> str:
    """The URI of a version's model card (an HTML page), given its registry row's ``artifact_uri``."""
    return f"{artifact_uri}/{MODEL_CARD_FILE}"


def serialize_model(estimator: Pipeline) -> tuple[bytes, str]:
    """The fitted pipeline as joblib bytes, and their SHA-256 (hex)."""
    import joblib

    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
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
    config: dict[str, Any]
    code_version: str
    sklearn_version: str
    python_version: str
    dag_id: str
    run_id: str
    dag_version: str | None = None
    reproduces_version: int | None = None
    feature_sql: str | None = None
    feature_sql_sha256: str | None = None
    expectation_suites: dict[str, Any] | None = None
    config_sha256: str | None = None


@dataclass(frozen=True)
class Decision:
    """A promotion decision about a challenger, as :func:`decide` records it.

    ``expected_champion`` is the champion version the challenger was compared against;
    ``valid_from`` the logical time from which a promoted version is live (the data interval end of
    the deciding run); ``actor`` who decided (``<dag id>/<run id>``); ``evidence`` the promotion gate's
    intervals (:meth:`pipeline.models.promotion.GateDecision.to_dict`), stored in ``decision_evidence``.
    """

    decision: str
    reason: str
    metric: str
    challenger_metric: float
    champion_metric: float | None
    expected_champion: int | None
    valid_from: Any
    actor: str
    evidence: dict | None = None


def register(
    warehouse: Warehouse,
    store: ArtifactStore,
    new: NewVersion,
    model_bytes: bytes,
    model_sha256: str,
    artifacts: Callable[[int], dict[str, bytes]],
) -> dict:
    """Allocate the next version, write its artifacts, and record it as ``candidate``.

    The row is committed as ``pending`` first, so the version number is reserved before anything is
    written to storage. Artifacts are written with ``overwrite=False``, the manifest (every file's
    SHA-256) last; a failed write is retried in place (:data:`WRITE_ATTEMPTS`, exponential wait)
    rather than failing the version. A failure that outlasts the retries marks the row ``failed``,
    with the error as its ``decision_reason``: the version is never served or reused. Callers check
    that the store is writable before training (:func:`check_writable`), so an unwritable store
    fails a retrain before it reserves a version.

    Args:
        artifacts: builds the files (name -> bytes) to write beside the model, given the version.

    Returns:
        The version's registry row as a dict.

    Raises:
        ArtifactError, WarehouseError: storage or database failure (the row is then ``failed``).
    """
    from pipeline.data.warehouse import fetch

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
            "training_data_uri": store.uri(f"{prefix}/{TRAINING_DATA_FILE}"),
            "validation_uri": store.uri(f"{prefix}/{VALIDATION_FILE}"),
            "config": Json(new.config),
            "metrics": Json(new.metrics),
            "baseline_metrics": Json(new.baseline_metrics),
            "params": Json(new.params),
            "expectation_suites": None if new.expectation_suites is None else Json(new.expectation_suites),
        }
        fetch(cur, "ml/registry_insert", row)
    try:
        files = {MODEL_FILE: model_bytes, **artifacts(version)}
        for name, data in files.items():
            _put_retrying(store, f"{prefix}/{name}", data)
        manifest = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
        _put_retrying(store, f"{prefix}/{MANIFEST_FILE}", json.dumps(manifest, indent=2, sort_keys=True).encode())
    except BaseException as exc:
        reason = f"registration failed: {type(exc).__name__}: {exc}"
        _set_status(warehouse, new.model_name, version, "pending", "failed", reason)
        # The error is raised on: its message says enough, a traceback here would only repeat it.
        log.error("%s v%d marked failed (%s)", new.model_name, version, reason)
        raise
    if not _set_status(warehouse, new.model_name, version, "pending", "candidate"):
        raise RegistryError(
            f"{new.model_name} v{version} is no longer pending (cleanup marked it failed after "
            "training.pending_timeout_hours); it will not be served: retrain"
        )
    log.info("registered %s v%d at %s", new.model_name, version, store.uri(prefix))
    return get_version(warehouse, new.model_name, version)


def _put_retrying(store: ArtifactStore, key: str, data: bytes) -> None:
    """``store.put(key, data)`` (immutable), tried :data:`WRITE_ATTEMPTS` times on an ArtifactError.

    An existing key (ArtifactExistsError, not retried) means an earlier try did write but its answer
    was lost: the write stands if the stored bytes are ``data``.
    """
    for attempt in tenacity.Retrying(
        retry=tenacity.retry_if_exception(
            lambda exc: isinstance(exc, ArtifactError) and not isinstance(exc, ArtifactExistsError)
        ),
        stop=tenacity.stop_after_attempt(WRITE_ATTEMPTS),
        wait=tenacity.wait_exponential(multiplier=1, max=WRITE_MAX_WAIT_S),
        before_sleep=lambda state: log.warning(
            "writing %s failed (try %d of %d), retrying: %s",
            store.uri(key),
            state.attempt_number,
            WRITE_ATTEMPTS,
            state.outcome.exception(),
        ),
        reraise=True,
    ):
        with attempt:
            try:
                store.put(key, data)
            except ArtifactExistsError:
                if store.get(key) != data:
                    raise


def check_writable(store: ArtifactStore, model_name: str) -> None:
    """Fail before any training if the store cannot take a new version of ``model_name``: write the
    probe file ``<model name>/.write-check`` (replaced on each call).

    Raises:
        ArtifactError: the store refused the write (naming the URI and the store's reason).
    """
    try:
        store.put(f"{model_name}/.write-check", b"this store accepts new versions of this model\n", overwrite=True)
    except ArtifactError as exc:
        raise ArtifactError(
            f"{exc}; the artifact store cannot take new versions of {model_name}, so nothing was trained "
            "and no version was reserved: fix the store's permissions or settings (artifacts.root) and retry"
        ) from exc


def _set_status(
    warehouse: Warehouse, model_name: str, version: int, from_status: str, status: str, reason: str | None = None
) -> bool:
    """Move a version from ``from_status`` to ``status`` (``reason``: why it failed); False when it was
    not in ``from_status``."""
    rows = warehouse.fetch(
        "ml/registry_set_status",
        {"model_name": model_name, "version": version, "from_status": from_status, "status": status, "reason": reason},
    )
    return bool(rows)


def fail_stale_pending(warehouse: Warehouse, model_name: str, cutoff: Any, actor: str) -> list[dict]:
    """Mark ``failed`` every ``pending`` version of ``model_name`` reserved before ``cutoff``: its retrain
    was killed while writing artifacts. Their reason says so; they are never served (only ``candidate``,
    ``champion`` and ``archived`` versions are).

    Args:
        cutoff: timezone-aware datetime; versions whose ``created_at`` is earlier are failed.
        actor: who decided (``cleanup/<run id>``), stored in the reason.

    Returns:
        The failed versions: ``version`` and ``created_at`` each.
    """
    reason = f"still pending at {cutoff:%Y-%m-%d %H:%M %Z} (training.pending_timeout_hours): its retrain was killed "
    reason += f"before registration finished; marked failed by {actor}"
    rows = warehouse.fetch(
        "ml/registry_fail_stale_pending", {"model_name": model_name, "cutoff": cutoff, "reason": reason}
    )
    for row in rows:
        log.warning("%s v%d was pending since %s: marked failed", model_name, row["version"], row["created_at"])
    return rows


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


def require_champion(warehouse: Warehouse, model_name: str) -> dict:
    """The current champion's registry row.

    Raises:
        NoChampionError: the model has no champion yet (run its retrain__<model> DAG first).
    """
    record = champion(warehouse, model_name)
    if record is None:
        raise NoChampionError(
            f"model {model_name!r} has no champion: run retrain__{model_name} first. Nothing was written."
        )
    return record


def decide(warehouse: Warehouse, model_name: str, version: int, decision: Decision) -> dict:
    """Record a promotion decision; for ``promoted`` or ``forced`` make the version champion and
    append the change to ``ml.champion_history``.

    Runs in one transaction under the model's registry lock. If the champion changed since the
    challenger was compared against ``decision.expected_champion``, a ``promoted`` verdict becomes
    ``rejected`` rather than promoting on a stale comparison.

    Returns:
        The version's updated registry row.

    Raises:
        RegistryError: the version is not an undecided ``candidate``.
    """
    from pipeline.data.warehouse import fetch

    verdict, reason = decision.decision, decision.reason
    with warehouse.transaction() as cur:
        fetch(cur, "ml/advisory_lock", {"lock_key": f"model_versions:{model_name}"})
        current = fetch(cur, "ml/registry_champion", {"model_name": model_name})
        current_version = current[0]["version"] if current else None
        if verdict == "promoted" and current_version != decision.expected_champion:
            verdict = "rejected"
            reason = (
                f"champion changed from {decision.expected_champion} to {current_version} during this run; "
                "retrain to compare against it"
            )
        promote = verdict in ("promoted", "forced")
        if promote:
            fetch(cur, "ml/registry_archive_champion", {"model_name": model_name})
        fetch(
            cur,
            "ml/registry_decide",
            {
                "model_name": model_name,
                "version": version,
                "decision": verdict,
                "reason": reason,
                "champion_metric": decision.champion_metric,
                "evidence": None if decision.evidence is None else Json(decision.evidence),
                "status": "champion" if promote else "candidate",
            },
        )
        if cur.rowcount != 1:
            raise RegistryError(f"{model_name} v{version} is not an undecided candidate")
        if promote:
            fetch(
                cur,
                "ml/champion_history_insert",
                {
                    "model_name": model_name,
                    "old_version": current_version,
                    "new_version": version,
                    "valid_from": decision.valid_from,
                    "reason": verdict,
                    "actor": decision.actor,
                    "detail": reason,
                    "metric": decision.metric,
                    "new_metric": decision.challenger_metric,
                    "old_metric": decision.champion_metric,
                },
            )
    log.info("%s v%d: %s (%s)", model_name, version, verdict, reason)
    return get_version(warehouse, model_name, version)


def rollback(
    warehouse: Warehouse, store: ArtifactStore, model_name: str, version: int, valid_from: Any, actor: str, detail: str
) -> dict:
    """Make an earlier valid version champion again, and record it in ``ml.champion_history``.

    The version must belong to ``model_name``, be ``candidate`` or ``archived`` (never ``pending``
    or ``failed``), and its model artifact must exist with the registered SHA-256. Any failed check
    raises before anything changes.

    Args:
        valid_from: logical time from which the version is live (timezone-aware).
        actor: who asked (``promote/<run id>``, ``cli:<user>``).
        detail: the operator's reason, stored with the change.

    Returns:
        The version's registry row, now ``champion``.

    Raises:
        RegistryError: unknown version, already champion, or not a valid version.
        ArtifactIntegrityError, ArtifactError: its artifacts are altered or missing.
    """
    from pipeline.data.warehouse import fetch

    record = get_version(warehouse, model_name, version)
    if record["status"] == "champion":
        raise RegistryError(f"{model_name} v{version} is already the champion")
    if record["status"] not in ("candidate", "archived"):
        raise RegistryError(f"{model_name} v{version} is {record['status']}, not a valid version to serve")
    load_model(store, record)  # the artifact exists and is the one registered
    with warehouse.transaction() as cur:
        fetch(cur, "ml/advisory_lock", {"lock_key": f"model_versions:{model_name}"})
        current = fetch(cur, "ml/registry_champion", {"model_name": model_name})
        fetch(cur, "ml/registry_archive_champion", {"model_name": model_name})
        fetch(cur, "ml/registry_make_champion", {"model_name": model_name, "version": version})
        if cur.rowcount != 1:
            raise RegistryError(f"{model_name} v{version} changed state during the rollback; nothing was changed")
        fetch(
            cur,
            "ml/champion_history_insert",
            {
                "model_name": model_name,
                "old_version": current[0]["version"] if current else None,
                "new_version": version,
                "valid_from": valid_from,
                "reason": "rollback",
                "actor": actor,
                "detail": detail,
                "metric": None,
                "new_metric": None,
                "old_metric": None,
            },
        )
    log.info("%s: rolled back to v%d (%s)", model_name, version, detail)
    return get_version(warehouse, model_name, version)


def champion_at(warehouse: Warehouse, model_name: str, at: Any) -> dict | None:
    """The ``ml.champion_periods`` row of the version live at logical time ``at``, or None."""
    rows = warehouse.fetch("ml/champion_at", {"model_name": model_name, "at": at})
    return rows[0] if rows else None


def _verified(store: ArtifactStore, record: dict, file_name: str, sha_column: str) -> bytes:
    """The bytes of a version's artifact ``file_name``, checked against the SHA-256 in ``sha_column``.

    Raises:
        ArtifactIntegrityError: the stored bytes differ from those registered (tampering or corruption).
        ArtifactError: the artifact cannot be read.
    """
    data = store.get(f"{version_prefix(record['model_name'], record['version'])}/{file_name}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != record[sha_column]:
        raise ArtifactIntegrityError(
            f"{record['model_name']} v{record['version']}: {file_name} SHA-256 {digest} differs from the "
            f"registered {record[sha_column]}; refusing to load it"
        )
    return data


def load_training_snapshot(store: ArtifactStore, record: dict) -> bytes:
    """The Parquet snapshot a version was trained on, checked against its registered SHA-256.

    Raises:
        ArtifactIntegrityError: the stored bytes differ from those registered.
    """
    return _verified(store, record, TRAINING_DATA_FILE, "training_data_sha256")


# Models loaded by this process: (store URI of the model file, registered SHA-256) -> the model.
_loaded: dict[tuple[str, str], Pipeline] = {}


def load_model(store: ArtifactStore, record: dict) -> Pipeline:
    """Load a registered model after checking its bytes against the SHA-256 in the registry.

    Every call reads the artifact and checks its SHA-256; a model already unpickled by this process
    from the same bytes (same file and registered SHA-256) is returned again, the same object,
    instead of being unpickled anew: every partition, chunk and shadow comparison of a run shares it.
    Callers only predict with it, never fit or mutate it.

    Args:
        record: a registry row (``model_name``, ``version``, ``model_sha256``).

    Raises:
        ArtifactIntegrityError: the stored bytes differ from those registered (tampering or
            corruption); nothing is unpickled or served from the cache.
        ArtifactError: the artifact cannot be read.
    """
    data = _verified(store, record, MODEL_FILE, "model_sha256")
    key = (store.uri(f"{version_prefix(record['model_name'], record['version'])}/{MODEL_FILE}"), record["model_sha256"])
    if key not in _loaded:
        import joblib

        _loaded[key] = joblib.load(io.BytesIO(data))
    return _loaded[key]


# Seconds the rollback form's parse-time read waits to connect, and for its query.
ROLLBACK_CHOICES_TIMEOUT_S = 3


def rollback_choices(url: str, model_name: str, metric: str) -> list[dict] | str:
    """The versions of ``model_name`` a rollback can serve, and its champion, for the rollback DAG's
    form, read when the DAG file is parsed: rows ``{"version": int, "status": "candidate" | "archived"
    | "champion", "metric": float | None (``metric`` on the version's holdout), "holdout_end":
    datetime}``, newest first. Or, when the registry cannot be read, the reason (a string).

    The one read at DAG-parse time, so it stays cheap: one indexed query over psycopg2 on the
    warehouse at ``url`` (no pandas, no SQLAlchemy), at most :data:`ROLLBACK_CHOICES_TIMEOUT_S`
    seconds to connect and to run, read-only; ``sql/ml/registry_rollback_choices.sql``.
    """
    import psycopg2
    import psycopg2.extras

    url = url.replace("postgresql+psycopg2://", "postgresql://", 1)  # libpq reads no SQLAlchemy driver name
    query = (PROJECT_ROOT / "sql" / "ml" / "registry_rollback_choices.sql").read_text()
    timeout_ms = ROLLBACK_CHOICES_TIMEOUT_S * 1000
    try:
        conn = psycopg2.connect(
            url,
            connect_timeout=ROLLBACK_CHOICES_TIMEOUT_S,
            options=f"-c statement_timeout={timeout_ms} -c default_transaction_read_only=on -c timezone=UTC",
        )
    except psycopg2.Error as exc:
        # The reason goes to the log only: libpq's message can quote a malformed URL, password and all,
        # and the form's text is stored with the DAG and shown to every UI user.
        log.warning("rollback form: cannot connect to the warehouse: %s", str(exc).strip().splitlines()[0])
        return "cannot connect to the warehouse (see the DAG processor's log)"
    try:
        with conn, conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(query, {"model_name": model_name, "metric": metric})
            return [dict(row) for row in cur.fetchall()]
    except psycopg2.Error as exc:
        return f"cannot read the registry ({str(exc).strip().splitlines()[0]})"
    finally:
        conn.close()
