"""Static checks of docker-compose.yaml; no Docker engine runs where these tests run.

The file is interpolated the way Compose would with an empty environment (every ``${VAR:-default}``
becomes its default), validated against the Compose Specification's JSON Schema, and cross-checked
against the pipeline's config model so a renamed config key or bucket breaks a test, not a deploy.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from check_jsonschema.builtin_schemas import get_builtin_schema

from pipeline.config import PipelineConfig, check_environment, load_config, load_models, load_shared

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yaml"

WORKERS = ("airflow-worker-1", "airflow-worker-2")
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    *WORKERS,
}
# Services whose code reads the pipeline config: the workers run tasks (CeleryExecutor), the DAG
# processor parses the model files, seed loads data.
PIPELINE_SERVICES = {*WORKERS, "airflow-dag-processor", "seed", "warehouse-migrate"}
EXPECTED_SERVICES = AIRFLOW_SERVICES | {
    "postgres",
    "redis",
    "warehouse",
    "minio",
    "minio-init",
    "seed",
    "warehouse-migrate",
}
REQUIRED_PIPELINE_ENV = {
    "PIPELINE_CONFIG",
    "PIPELINE_WAREHOUSE__URL",
    "PIPELINE_ARTIFACTS__ROOT",
    "PIPELINE_ARTIFACTS__ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
}

_TOKEN = re.compile(r"\$\$|\$\{(?P<braced>[^}]*)\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)")
_WITH_DEFAULT = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*):?-(?P<default>.*)", re.DOTALL)


def interpolate(value: str) -> str:
    """Resolve Compose interpolation as with no variables set: ``$$`` -> ``$``, ``${VAR:-d}`` -> ``d``.

    A variable without a default fails the test: the stack must start without a ``.env``, and a bare
    ``$VAR`` is usually a shell variable that should have been escaped as ``$$VAR``.
    """

    def resolve(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        expr = match.group("braced") if match.group("braced") is not None else match.group("bare")
        with_default = _WITH_DEFAULT.fullmatch(expr)
        if with_default is None:
            raise AssertionError(f"{match.group(0)!r} in docker-compose.yaml has no ${{VAR:-...}} default")
        return with_default.group("default")

    return _TOKEN.sub(resolve, value)


def _interpolate_tree(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _interpolate_tree(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate_tree(item) for item in node]
    return interpolate(node) if isinstance(node, str) else node


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict of strings (Compose allows a mapping or a KEY=VALUE list)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def bind_mounts(service: dict[str, Any]) -> dict[PurePosixPath, Path]:
    """Container path -> host path for the service's bind mounts of repository folders."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[PurePosixPath(target)] = (REPO / source).resolve()
    return mounts


def host_path(service: dict[str, Any], container_path: str) -> Path:
    """Where a container path of this service lives in the repository, via its bind mounts."""
    path = PurePosixPath(container_path)
    for target, source in bind_mounts(service).items():
        if path == target or target in path.parents:
            return source / path.relative_to(target)
    raise AssertionError(f"{container_path} is not inside any bind mount of the service")


def test_unescaped_or_undefaulted_variables_are_rejected_by_the_helper() -> None:
    assert interpolate("a${X:-1}b${Y-2}c$$HOME") == "a1b2c$HOME"
    for bad in ("${X}", "$X", "${X:?required}"):
        with pytest.raises(AssertionError):
            interpolate(bad)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _interpolate_tree(yaml.safe_load(COMPOSE_FILE.read_text()))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def test_compose_file_matches_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    # The Compose Specification's JSON Schema as vendored (and kept current) by check-jsonschema.
    schema = get_builtin_schema("vendor.compose-spec")
    validator = jsonschema.validators.validator_for(schema, default=None)  # the draft the schema declares
    assert validator is not None, f"unknown JSON Schema draft {schema.get('$schema')!r}"
    validator.check_schema(schema)
    errors = sorted(validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors)


def test_expected_services_exist(services: dict[str, dict[str, Any]]) -> None:
    assert EXPECTED_SERVICES <= services.keys(), f"missing: {sorted(EXPECTED_SERVICES - services.keys())}"
    for name in AIRFLOW_SERVICES | {"seed"}:
        assert environment(services[name])["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name


def test_dependencies_mounts_and_volumes_resolve(compose: dict[str, Any]) -> None:
    services, named_volumes = compose["services"], set(compose.get("volumes") or {})
    for name, service in services.items():
        for dep, spec in (service.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on undefined service {dep}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy: no healthcheck"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).is_dir(), f"{name} mounts {source}, which is not a folder of the repo"
            else:
                assert source in named_volumes, f"{name} uses volume {source}, not declared under volumes:"


def test_pipeline_settings_are_real_config_keys(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, service in services.items():
        env = environment(service)
        if name in PIPELINE_SERVICES:
            missing = sorted(REQUIRED_PIPELINE_ENV - env.keys())
            assert not missing, f"{name} lacks {missing}"
        overrides = {k: v for k, v in env.items() if k.startswith("PIPELINE_") and k != "PIPELINE_CONFIG"}
        if not overrides:
            continue
        # Each variable must name a setting, as the pipeline itself checks when it loads its config.
        for var in [v for v in os.environ if v.upper().startswith("PIPELINE_")]:
            monkeypatch.delenv(var)
        for var, value in overrides.items():
            monkeypatch.setenv(var, value)
        check_environment(sorted(load_models()[0]))

        # The container's config file is the repo's, through the ./config bind mount.
        config_file = host_path(service, env["PIPELINE_CONFIG"])
        assert config_file == REPO / "config" / "pipeline.yaml"
        with monkeypatch.context() as m:
            for var in [v for v in os.environ if v.startswith("PIPELINE_")]:
                m.delenv(var)
            for var, value in overrides.items():
                m.setenv(var, value)
            m.setenv("PIPELINE_CONFIG", str(config_file))
            cfg = load_config("flight_delay")
            shared = load_shared()

        for var, value in overrides.items():
            section, _, key = var.removeprefix("PIPELINE_").lower().partition("__")
            owner = cfg if section in PipelineConfig.model_fields else shared
            assert str(getattr(getattr(owner, section), key)) == value, f"{name}: {var} not applied"
        assert cfg.warehouse.url == env["PIPELINE_WAREHOUSE__URL"]
        assert cfg.artifacts.root == env["PIPELINE_ARTIFACTS__ROOT"]
        assert cfg.artifacts.endpoint_url == env["PIPELINE_ARTIFACTS__ENDPOINT_URL"]

        # Relative config paths resolve against the parent of the mounted pipeline package.
        pipeline_dir = next(t for t, s in bind_mounts(service).items() if s == REPO / "pipeline")
        assert str(pipeline_dir.parent) in env["PYTHONPATH"].split(":"), f"{name}: pipeline not importable"
        for relative in (cfg.dataset.feature_sql, cfg.validation.training_suite, cfg.validation.scoring_suite):
            in_container = pipeline_dir.parent / PurePosixPath(relative.as_posix())
            assert host_path(service, str(in_container)).is_file(), f"{name}: {in_container} not mounted"


def _postgres_matches(url: str, services: dict[str, dict[str, Any]]) -> None:
    parts = urlsplit(url)
    assert parts.hostname in services, f"{url}: host {parts.hostname} is not a service"
    db_env = environment(services[parts.hostname])
    assert services[parts.hostname]["image"].startswith("postgres:")
    assert parts.port == 5432
    assert parts.path.lstrip("/") == db_env["POSTGRES_DB"]
    assert (parts.username, parts.password) == (db_env["POSTGRES_USER"], db_env["POSTGRES_PASSWORD"])


def test_connections_point_at_services_of_this_file(services: dict[str, dict[str, Any]]) -> None:
    minio_env = environment(services["minio"])
    init_script = " ".join(services["minio-init"]["command"])
    created = re.findall(r"mc mb --ignore-existing \S+?/(\S+)", init_script)
    assert created, "minio-init creates no bucket"
    for name in PIPELINE_SERVICES:
        env = environment(services[name])
        _postgres_matches(env["PIPELINE_WAREHOUSE__URL"], services)
        _postgres_matches(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", ""), services)
        root = urlsplit(env["PIPELINE_ARTIFACTS__ROOT"])
        assert root.scheme == "s3", f"{name}: artifacts root is not on S3"
        assert root.netloc in created, f"{name}: bucket {root.netloc} is never created"
        endpoint = urlsplit(env["PIPELINE_ARTIFACTS__ENDPOINT_URL"])
        assert (endpoint.hostname, endpoint.port) == ("minio", 9000)
        assert env["AWS_ACCESS_KEY_ID"] == minio_env["MINIO_ROOT_USER"]
        assert env["AWS_SECRET_ACCESS_KEY"] == minio_env["MINIO_ROOT_PASSWORD"]
        assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert (
        environment(services["minio-init"]).items()
        >= {
            "MINIO_ROOT_USER": minio_env["MINIO_ROOT_USER"],
            "MINIO_ROOT_PASSWORD": minio_env["MINIO_ROOT_PASSWORD"],
        }.items()
    )


def test_airflow_image_matches_the_installed_airflow(services: dict[str, dict[str, Any]]) -> None:
    import airflow

    requirements = (REPO / "requirements.txt").read_text()
    assert f"\napache-airflow=={airflow.__version__}\n" in requirements
    python = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for name in AIRFLOW_SERVICES | {"seed"}:
        service = services[name]
        base = re.findall(r"^FROM\s+(\S+)", service["build"]["dockerfile_inline"], re.MULTILINE)
        assert base == [f"apache/airflow:{airflow.__version__}-{python}"], f"{name} builds FROM {base}"
        # The built image's tag carries the same version, so the name never lies after a bump.
        assert service["image"].rsplit(":", 1)[1] == base[0].rsplit(":", 1)[1]
        for copied in re.findall(r"^COPY\s+(\S+)", service["build"]["dockerfile_inline"], re.MULTILINE):
            assert (REPO / service["build"]["context"] / copied).is_file(), f"{name}: COPY {copied} missing"


def test_the_schema_is_upgraded_before_airflow_starts(services: dict[str, dict[str, Any]]) -> None:
    """Tasks never run DDL: every long-running Airflow service (all but the metadata database's own
    init) waits for the migration service to finish, which runs `pipeline db upgrade` after the seed."""
    migrate = services["warehouse-migrate"]
    assert migrate["command"][-2:] == ["db", "upgrade"]
    assert migrate["depends_on"]["seed"]["condition"] == "service_completed_successfully"
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        assert services[name]["depends_on"]["warehouse-migrate"]["condition"] == "service_completed_successfully", name


def _airflow_argv(service: dict[str, Any]) -> list[str]:
    """The ``airflow ...`` command a service runs: its command list, or the line of its bash script
    that ``exec``s airflow."""
    command = service["command"]
    if command[0] == "airflow":
        return command
    (line,) = [line for line in command[-1].splitlines() if line.strip().startswith("exec airflow")]
    return shlex.split(line)[1:]


def test_airflow_commands_parse_with_the_installed_cli(services: dict[str, dict[str, Any]]) -> None:
    """Every Airflow service's command is one the pinned Airflow's CLI (with the Celery provider) accepts."""
    from airflow.cli import cli_parser

    parser = cli_parser.get_parser()
    for name in AIRFLOW_SERVICES:
        argv = _airflow_argv(services[name])
        assert argv[0] == "airflow", name
        args = parser.parse_args(argv[1:])  # exits (SystemExit) on an unknown command or option
        assert callable(args.func), name
    assert {tuple(_airflow_argv(services[w])) for w in WORKERS} == {("airflow", "celery", "worker")}


def test_celery_broker_and_result_backend_are_services_of_this_file(services: dict[str, dict[str, Any]]) -> None:
    redis_env = environment(services["redis"])
    command = services["redis"]["command"]
    password = command[command.index("--requirepass") + 1]
    assert password == redis_env["REDIS_PASSWORD"], "the healthcheck authenticates with another password"
    for name in AIRFLOW_SERVICES:
        env = environment(services[name])
        broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
        assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379), name
        assert broker.password == password, f"{name}: the broker URL's password is not Redis' password"
        # Results go to the metadata database itself, recorded with the worker that ran each task.
        backend = env["AIRFLOW__CELERY__RESULT_BACKEND"]
        assert backend.startswith("db+postgresql://"), name
        assert backend.removeprefix("db+") == env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", ""), name
        assert json.loads(env["AIRFLOW__CELERY__EXTRA_CELERY_CONFIG"]) == {"result_extended": True}, name
        assert int(env["AIRFLOW__CELERY__WORKER_CONCURRENCY"]) >= 1, name
        if name != "airflow-init":  # it only migrates the metadata database
            assert services[name]["depends_on"].get("redis", {}).get("condition") == "service_healthy", name


def test_redis_healthcheck_pings_with_the_password(services: dict[str, dict[str, Any]]) -> None:
    redis = services["redis"]
    assert redis["image"].startswith("redis:7.2"), "Redis after 7.2 is no longer under the BSD licence"
    test = redis["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    assert "redis-cli ping" in test[1] and 'REDISCLI_AUTH="${REDIS_PASSWORD}"' in test[1]
    assert "ports" not in redis, "Redis must not be published to the host"


def test_two_workers_with_distinct_hostnames(services: dict[str, dict[str, Any]]) -> None:
    hostnames = [services[name]["hostname"] for name in WORKERS]
    assert len(set(hostnames)) == len(WORKERS), hostnames
    for name in WORKERS:
        worker = services[name]
        # Celery names the node celery@<hostname>; the healthcheck pings that node, not any worker.
        assert 'inspect ping -d "celery@${HOSTNAME}"' in worker["healthcheck"]["test"][1], name
        assert environment(worker)["DUMB_INIT_SETSID"] == "0", f"{name}: no warm shutdown"
        assert worker["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy", name
        assert "/opt/airflow/logs" in [v.split(":")[1] for v in worker["volumes"]], f"{name}: task logs not shared"
