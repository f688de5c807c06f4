"""Artifact storage: S3 (or any S3-compatible store, such as MinIO) through boto3, or a local folder.

Keys are ``/``-separated paths below the configured root. Model-version artifacts are written with
``overwrite=False``: S3 gets a conditional put (``If-None-Match: *``), a local folder an exclusive
hard link, so an existing version is never replaced, even by two writers racing.

Every storage failure (a ``PermissionError`` or full disk in a local folder, a botocore error) is raised
as :class:`ArtifactError`, naming the URI. ``list_objects`` and ``delete`` serve the cleanup of
run-scoped files (:mod:`pipeline.stages.cleanup`).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from pipeline.config import PROJECT_ROOT, ArtifactsConfig


class ArtifactError(RuntimeError):
    """An artifact could not be read or written; the message names its URI."""


class ArtifactExistsError(ArtifactError):
    """The key exists and ``overwrite`` was False."""


@dataclass(frozen=True)
class StoredObject:
    """One stored file: its key below the store's root and when it was last written (UTC)."""

    key: str
    modified: dt.datetime


class ArtifactStore(Protocol):
    def uri(self, key: str) -> str: ...
    def put(self, key: str, data: bytes, overwrite: bool = False) -> str: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def list_objects(self, prefix: str) -> Iterator[StoredObject]: ...
    def delete(self, keys: Iterable[str]) -> int: ...


class LocalStore:
    """Artifacts in a local folder (the demo's default)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def uri(self, key: str) -> str:
        return str(self.root / key)

    def put(self, key: str, data: bytes, overwrite: bool = False) -> str:
        """Write ``data`` at ``key`` atomically; returns its URI.

        Raises:
            ArtifactExistsError: the key exists and ``overwrite`` is False.
            ArtifactError: the folder cannot be written (permissions, full disk...).
        """
        path = self.root / key
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            if overwrite:
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    raise ArtifactExistsError(f"artifact exists and is immutable: {path}") from None
        except OSError as exc:
            raise ArtifactError(f"cannot write {path}: {exc.strerror or exc}") from exc
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
        return str(path)

    def get(self, key: str) -> bytes:
        """The bytes at ``key``. Raises ArtifactError (missing or unreadable), naming the path."""
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            raise ArtifactError(f"artifact not found: {self.root / key}") from None
        except OSError as exc:
            raise ArtifactError(f"cannot read {self.root / key}: {exc.strerror or exc}") from exc

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    def list_objects(self, prefix: str) -> Iterator[StoredObject]:
        """Every file below the folder ``prefix`` (``runs/predict__m/``), with its modification time."""
        top = self.root / prefix
        for folder, _, names in os.walk(top):
            for name in names:
                path = Path(folder) / name
                try:
                    modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
                except FileNotFoundError:  # removed meanwhile
                    continue
                yield StoredObject(path.relative_to(self.root).as_posix(), modified)

    def delete(self, keys: Iterable[str]) -> int:
        """Remove the files at ``keys`` (missing ones are skipped) and the folders this leaves empty;
        returns how many files were removed. Raises ArtifactError."""
        removed = 0
        folders = set()
        for key in keys:
            path = self.root / key
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:  # removed meanwhile: its folder may still be left empty
                pass
            except OSError as exc:
                raise ArtifactError(f"cannot delete {path}: {exc.strerror or exc}") from exc
            folders.add(path.parent)
        for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
            while folder != self.root and folder.is_relative_to(self.root):
                try:
                    folder.rmdir()  # only when empty
                except OSError:
                    break
                folder = folder.parent
        return removed


class S3Store:
    """Artifacts in ``s3://bucket/prefix``; ``endpoint_url`` selects MinIO or another S3-compatible
    store. Credentials and region: those given (from ``artifacts`` config, which the DAGs fill from an
    Airflow AWS connection), else boto3's usual chain (environment, profile, role)."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        endpoint_url: str | None = None,
        *,
        region_name: str | None = None,
        access_key_id: SecretStr | None = None,
        secret_access_key: SecretStr | None = None,
        session_token: SecretStr | None = None,
    ) -> None:
        import boto3
        from botocore.config import Config

        def reveal(secret: SecretStr | None) -> str | None:
            return None if secret is None else secret.get_secret_value()

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region_name,
            aws_access_key_id=reveal(access_key_id),
            aws_secret_access_key=reveal(secret_access_key),
            aws_session_token=reveal(session_token),
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def put(self, key: str, data: bytes, overwrite: bool = False) -> str:
        """Upload ``data`` at ``key``; returns its URI. Raises ArtifactExistsError or ArtifactError."""
        from botocore.exceptions import BotoCoreError, ClientError

        extra = {} if overwrite else {"IfNoneMatch": "*"}
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **extra)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise ArtifactExistsError(f"artifact exists and is immutable: {self.uri(key)}") from None
            raise ArtifactError(f"cannot write {self.uri(key)}: {exc}") from exc
        except BotoCoreError as exc:
            raise ArtifactError(f"cannot write {self.uri(key)}: {exc}") from exc
        return self.uri(key)

    def get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise ArtifactError(f"cannot read {self.uri(key)}: {exc}") from exc

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise ArtifactError(f"cannot check {self.uri(key)}: {exc}") from exc
        return True

    def list_objects(self, prefix: str) -> Iterator[StoredObject]:
        """Every object below ``prefix`` (``runs/predict__m/``), with its ``LastModified``. Raises ArtifactError."""
        from botocore.exceptions import BotoCoreError, ClientError

        strip = len(self._key(""))
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            ):
                for item in page.get("Contents", []):
                    yield StoredObject(item["Key"][strip:], item["LastModified"])
        except (ClientError, BotoCoreError) as exc:
            raise ArtifactError(f"cannot list {self.uri(prefix)}: {exc}") from exc

    def delete(self, keys: Iterable[str]) -> int:
        """Remove the objects at ``keys``, 1,000 a request; returns how many were asked to be removed
        (S3 deletes missing keys without complaint). Raises ArtifactError naming the first refused key."""
        from botocore.exceptions import BotoCoreError, ClientError

        keys = list(keys)
        for i in range(0, len(keys), 1000):
            batch = [{"Key": self._key(k)} for k in keys[i : i + 1000]]
            try:
                answer = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except (ClientError, BotoCoreError) as exc:
                raise ArtifactError(f"cannot delete below {self.uri('')}: {exc}") from exc
            if answer.get("Errors"):
                error = answer["Errors"][0]
                raise ArtifactError(f"cannot delete s3://{self.bucket}/{error['Key']}: {error.get('Message')}")
        return len(keys)


def open_store(cfg: ArtifactsConfig) -> ArtifactStore:
    """The store for ``artifacts.root``: :class:`S3Store` for ``s3://bucket/prefix`` (with the
    section's endpoint, region and credentials), else :class:`LocalStore` (a relative folder is
    relative to the repository root)."""
    if cfg.root.startswith("s3://"):
        bucket, _, prefix = cfg.root[5:].partition("/")
        return S3Store(
            bucket,
            prefix,
            cfg.endpoint_url,
            region_name=cfg.region_name,
            access_key_id=cfg.access_key_id,
            secret_access_key=cfg.secret_access_key,
            session_token=cfg.session_token,
        )
    root = Path(cfg.root)
    return LocalStore(root if root.is_absolute() else PROJECT_ROOT / root)
