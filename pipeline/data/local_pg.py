"""A throwaway PostgreSQL cluster for the demo and the tests, run with the OS's own server binaries.

The binaries are found with ``pg_config --bindir`` (Debian keeps them in a versioned folder).
PostgreSQL refuses to run as root, so as root every server command runs as the ``postgres`` OS
user through ``runuser``, on a data directory that user owns. The cluster listens on 127.0.0.1
only and trusts local connections: it is a development fixture, never a production warehouse.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

SUPERUSER = "postgres"
DATABASE = "warehouse"


class LocalClusterError(RuntimeError):
    """The local cluster could not be created, started or stopped; the message says why."""


def server_bindir() -> Path:
    """Return the folder holding ``initdb`` and ``pg_ctl``, as ``pg_config --bindir`` reports it.

    Raises:
        LocalClusterError: ``pg_config`` is missing or the folder has no ``initdb`` (install the
            OS packages ``postgresql`` and ``libpq-dev``; ``make`` does this).
    """
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        raise LocalClusterError("pg_config not found: install the OS packages postgresql and libpq-dev")
    bindir = Path(subprocess.run([pg_config, "--bindir"], check=True, capture_output=True, text=True).stdout.strip())
    if not (bindir / "initdb").is_file():
        raise LocalClusterError(f"{bindir} has no initdb: install the OS package postgresql")
    return bindir


def _as_root() -> bool:
    return os.geteuid() == 0


def _server_cmd(*args: str | Path) -> list[str]:
    cmd = [str(a) for a in args]
    return ["runuser", "-u", SUPERUSER, "--", *cmd] if _as_root() else cmd


def _server_can_reach(path: Path) -> bool:
    """True when the server's OS user can create files in ``path``'s nearest existing parent."""
    if not _as_root():
        return True
    probe = path
    while not probe.exists():
        probe = probe.parent
    return subprocess.run(["runuser", "-u", SUPERUSER, "--", "test", "-x", str(probe)]).returncode == 0


def cluster_dir(local_dir: Path) -> Path:
    """Where the cluster for ``local_dir`` lives: ``local_dir`` itself, or, as root when the
    ``postgres`` user cannot enter ``local_dir`` (a checkout under ``/root``, say), a folder in the
    system temp dir named after ``local_dir``'s hash. The same input always gives the same folder."""
    local_dir = local_dir.resolve()
    if _server_can_reach(local_dir):
        return local_dir
    digest = hashlib.sha256(str(local_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"pipeline-postgres-{digest}"


def _run(cmd: list[str], what: str, log_file: Path | None = None) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        server_log = ""
        if log_file is not None and log_file.is_file():
            server_log = "\nserver log:\n" + "\n".join(log_file.read_text(errors="replace").splitlines()[-10:])
        raise LocalClusterError(f"{what} failed ({' '.join(cmd)}):\n{proc.stdout}{proc.stderr}{server_log}")
    return proc.stdout


def is_running(local_dir: Path) -> bool:
    """True when the cluster in ``cluster_dir(local_dir)`` has a live server."""
    data = cluster_dir(local_dir) / "data"
    if not (data / "PG_VERSION").is_file():
        return False
    return (
        subprocess.run(_server_cmd(server_bindir() / "pg_ctl", "status", "-D", data), capture_output=True).returncode
        == 0
    )


def url(port: int, database: str = DATABASE) -> str:
    """The connection URL of the local cluster's ``database`` on ``port``."""
    return f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{database}"


def start(local_dir: Path, port: int, database: str = DATABASE) -> str:
    """Create (first time) and start the local cluster, and create ``database`` in it. Idempotent.

    Args:
        local_dir: the configured folder (``warehouse.local_dir``); see :func:`cluster_dir`.
        port: TCP port on 127.0.0.1.
        database: database to create if it does not exist.

    Returns:
        The database's connection URL, ``postgresql://postgres@127.0.0.1:<port>/<database>``.

    Raises:
        LocalClusterError: with the server's own output, when initdb or pg_ctl fails (a port
            already taken by another server, for example), or when the cluster already runs but the
            server on ``port`` is another one (:func:`check_server`).
    """
    bindir = server_bindir()
    root = cluster_dir(local_dir)
    data = root / "data"
    root.mkdir(parents=True, exist_ok=True)
    if _as_root():
        shutil.chown(root, SUPERUSER, SUPERUSER)
    if not (data / "PG_VERSION").is_file():
        log.info("initialising a local PostgreSQL cluster in %s", data)
        _run(
            _server_cmd(
                bindir / "initdb", "-D", data, "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"
            ),
            "initdb",
        )
    if not is_running(local_dir):
        log.info("starting PostgreSQL on 127.0.0.1:%d", port)
        # pg_stat_statements counts statements on the server: how often a feature query ran (make bench,
        # the Celery check); sql/local/feature_query_calls.sql reads it.
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root} -c fsync=off "
            "-c shared_preload_libraries=pg_stat_statements"
        )
        _run(
            _server_cmd(
                bindir / "pg_ctl", "start", "-w", "-t", "60", "-D", data, "-l", root / "server.log", "-o", options
            ),
            "pg_ctl start",
            root / "server.log",
        )
    check_server(local_dir, port)
    create_database(port, database)
    return url(port, database)


def check_server(local_dir: Path, port: int) -> None:
    """Check that the server answering on 127.0.0.1:``port`` is the cluster of ``local_dir``, running.

    A port says nothing about which server listens on it: another checkout's cluster, or any other
    PostgreSQL, may hold the configured port while this cluster runs on another one (or not at all).
    The server is asked for its data directory (``SHOW data_directory``, which no two running
    servers share) and it must be this cluster's, :func:`cluster_dir` ``/ data``.

    Raises:
        LocalClusterError: the cluster is not running, the port does not answer, or another server
            answers on it; the message names both data directories and the port the cluster
            listens on (from its ``postmaster.pid``).
    """
    import psycopg2

    from pipeline.data.warehouse import statement

    data = cluster_dir(local_dir) / "data"
    if not is_running(local_dir):
        raise LocalClusterError(
            f"the local cluster in {data} is not running: start it with `make warehouse` "
            "(`pipeline warehouse start`), or set PIPELINE_WAREHOUSE__URL"
        )
    own = _listening_port(data)
    hint = f" The local cluster in {data} listens on port {own}." if own else ""
    try:
        conn = psycopg2.connect(url(port, "postgres"), connect_timeout=10)
    except psycopg2.Error as exc:
        raise LocalClusterError(
            f"cannot reach the local cluster on 127.0.0.1:{port}: {str(exc).strip()}.{hint} "
            "Set warehouse.local_port to the cluster's port, or restart it with `pipeline warehouse stop` "
            "and `pipeline warehouse start`."
        ) from exc
    try:
        with conn.cursor() as cur:
            cur.execute(statement("local/data_directory"))
            served = Path(cur.fetchone()[0])
    finally:
        conn.close()
    if served.resolve() != data.resolve():
        raise LocalClusterError(
            f"the PostgreSQL server on 127.0.0.1:{port} is not the local cluster: it serves {served}, "
            f"the cluster's data directory is {data}.{hint} Refusing to read or write another server's "
            "data: stop that server, or set warehouse.local_port to the cluster's port."
        )


def _listening_port(data: Path) -> int | None:
    """The port in a running cluster's ``postmaster.pid`` (its fourth line), or None if unreadable."""
    try:
        return int((data / "postmaster.pid").read_text().splitlines()[3])
    except (OSError, IndexError, ValueError):
        return None


def create_database(port: int, database: str) -> None:
    """Create ``database`` in the running local cluster unless it exists."""
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(url(port, "postgres"))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    finally:
        conn.close()


def stop(local_dir: Path) -> bool:
    """Stop the local cluster if it runs. Returns True when a server was stopped."""
    if not is_running(local_dir):
        return False
    data = cluster_dir(local_dir) / "data"
    _run(_server_cmd(server_bindir() / "pg_ctl", "stop", "-w", "-m", "fast", "-D", data), "pg_ctl stop")
    return True
