"""Warehouse and S3 credentials from the Airflow Connections named in the shared config, masked in
task logs and in alerts."""

from __future__ import annotations

from typing import Any

from pipeline.config import PipelineConfig, load_shared

# The secrets this process registered with Airflow's log masker, for :func:`redact`.
_MASKED: set[str] = set()


def mask(secret: str | None) -> None:
    """Register ``secret`` with Airflow's log masker (``airflow.sdk.log.mask_secret``), so task logs
    show it as ``***``, and remember it for :func:`redact`. Empty values are ignored."""
    from airflow.sdk.log import mask_secret

    if secret:
        mask_secret(secret)
        _MASKED.add(secret)


def redact(text: str) -> str:
    """``text`` with every secret :func:`mask` registered in this process replaced by ``***``, the
    longest first (a URL before the password inside it). Airflow masks its logs itself; this is for
    text that leaves through another way, such as an alert."""
    for secret in sorted(_MASKED, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def connection_overrides() -> dict[str, dict[str, Any]]:
    """``warehouse`` and ``artifacts`` settings from the Airflow Connections named in the shared
    config's ``airflow`` section, as :func:`~pipeline.config.load_config` overrides; ``{}`` with none.

    - ``airflow.warehouse_conn_id``: a Postgres connection, read by the postgres provider's
      ``PostgresHook.sqlalchemy_url`` (login, password, host, port, schema as the database, extra
      ``sqlalchemy_query``), becomes ``warehouse.url``.
    - ``airflow.aws_conn_id``: an AWS connection, read by the amazon provider's ``AwsBaseHook``
      (login and password or extra keys, a role to assume, extra ``region_name`` and
      ``endpoint_url``), fills ``artifacts``' credentials, region and endpoint.

    The values go to the library only: never to a return value (XCom). The task logs mask them: each
    secret (and the whole URL) is registered with Airflow's log masker (:func:`mask`), whatever the
    connection's extra field names (botocore's DEBUG lines carry the session token, for one).

    Raises:
        AirflowNotFoundException: a named connection does not exist.
    """
    conns = load_shared().airflow
    overrides: dict[str, dict[str, Any]] = {}
    if conns.warehouse_conn_id:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        # The library picks its own drivers: a plain postgresql:// URL.
        url = PostgresHook(postgres_conn_id=conns.warehouse_conn_id, sqlalchemy_scheme="postgresql").sqlalchemy_url
        overrides["warehouse"] = {"url": url.render_as_string(hide_password=False)}
        for secret in (url.password, overrides["warehouse"]["url"]):
            mask(secret)
    if conns.aws_conn_id:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        hook = AwsBaseHook(aws_conn_id=conns.aws_conn_id, client_type="s3")
        credentials = hook.get_credentials()
        settings = {
            "access_key_id": credentials.access_key,
            "secret_access_key": credentials.secret_key,
            "session_token": credentials.token,
            "region_name": hook.conn_region_name,
            "endpoint_url": hook.conn_config.get_service_endpoint_url("s3"),
        }
        overrides["artifacts"] = {key: value for key, value in settings.items() if value}
        for secret in (credentials.secret_key, credentials.token):
            mask(secret)
    return overrides


def warehouse_url(cfg: PipelineConfig) -> str:
    """The warehouse URL the model's tasks use: the Airflow Connection's
    (``airflow.warehouse_conn_id``) when one is named, else ``cfg``'s (or the local cluster's).

    Raises:
        AirflowNotFoundException: the named connection does not exist.
    """
    if load_shared().airflow.warehouse_conn_id:
        return connection_overrides()["warehouse"]["url"]
    from pipeline.data import local_pg

    return cfg.warehouse.url or local_pg.url(cfg.warehouse.local_port)
