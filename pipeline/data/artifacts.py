"""Artifact storage: S3 (or any S3-compatible store, such as MinIO) through boto3, or a local folder.

Keys are ``/``-separated paths below the configured root. Model-version artifacts are written with
``overwrite=False``: S3 gets a conditional put (``If-None-Match: *``), a local folder an exclusive
hard link, so an existing version is never replaced, even by two writers racing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from pipeline.config import PROJECT_ROOT, ArtifactsConfig


class ArtifactError(RuntimeError):
    """An artifact could not be read or written; the message names its URI."""


class ArtifactExistsError(ArtifactError):
    """The key exists and ``overwrite`` was False."""


class ArtifactStore(Protocol):
    def uri(self, key: str) -> str: ...
    def put(self, key: str, data: bytes, overwrite: bool = False) -> str: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...


class LocalStore:
    """Artifacts in a local folder (the demo's default)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def uri(self, key: str) -> str:
        return str(self.root / key)

    def put(self, key: str, data: bytes, overwrite: bool = False) -> str:
        """Write ``data`` at ``key`` atomically; returns its URI. Raises ArtifactExistsError."""
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            if overwrite:
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    raise ArtifactExistsError(f"artifact exists and is immutable: {path}") from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return str(path)

    def get(self, key: str) -> bytes:
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            raise ArtifactError(f"artifact not found: {self.root / key}") from None

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()


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
