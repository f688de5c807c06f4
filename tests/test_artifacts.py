"""Tests of the artifact stores: a local folder and S3 over real HTTP (moto's server), through the
same interface, including immutable (``overwrite=False``) writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import ArtifactsConfig
from pipeline.data.artifacts import ArtifactError, ArtifactExistsError, LocalStore, S3Store, open_store

KEY = "flight_delay/v0001/model.joblib"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "local":
        return open_store(ArtifactsConfig(root=str(tmp_path / "artifacts")))
    return open_store(
        ArtifactsConfig(root=request.getfixturevalue("s3_root"), endpoint_url=request.getfixturevalue("s3_endpoint"))
    )


@pytest.fixture
def expected_uri(store, request: pytest.FixtureRequest, tmp_path: Path):
    """How the store should spell the URI of a key, from the fixture's own inputs."""
    if isinstance(store, LocalStore):
        return lambda key: str(tmp_path / "artifacts" / key)
    root = request.getfixturevalue("s3_root")
    return lambda key: f"{root}/{key}"


def test_open_store_picks_the_backend(store, request: pytest.FixtureRequest) -> None:
    assert isinstance(store, LocalStore if request.node.callspec.params["store"] == "local" else S3Store)


def test_uri_format(store, expected_uri) -> None:
    assert store.uri(KEY) == expected_uri(KEY)
    assert store.uri("a.json") == expected_uri("a.json")


def test_put_get_round_trip(store, expected_uri) -> None:
    data = bytes(range(256)) * 100

    uri = store.put(KEY, data)

    assert uri == expected_uri(KEY)
    assert store.get(KEY) == data


def test_put_empty_bytes(store) -> None:
    store.put("empty.bin", b"")

    assert store.exists("empty.bin")
    assert store.get("empty.bin") == b""


def test_put_without_overwrite_keeps_the_original(store, expected_uri) -> None:
    store.put(KEY, b"first")

    with pytest.raises(ArtifactExistsError) as info:
        store.put(KEY, b"second", overwrite=False)

    assert expected_uri(KEY) in str(info.value)
    assert isinstance(info.value, ArtifactError)
    assert store.get(KEY) == b"first"


def test_put_with_overwrite_replaces(store) -> None:
    store.put(KEY, b"first")

    store.put(KEY, b"second", overwrite=True)

    assert store.get(KEY) == b"second"


def test_overwrite_true_on_a_new_key(store) -> None:
    store.put("new.json", b"{}", overwrite=True)

    assert store.get("new.json") == b"{}"


def test_exists(store) -> None:
    assert not store.exists(KEY)

    store.put(KEY, b"x")

    assert store.exists(KEY)
    assert not store.exists("flight_delay/v0002/model.joblib")
    assert not store.exists("flight_delay/v0001")  # a prefix is not an artifact


def test_get_missing_names_the_uri(store, expected_uri) -> None:
    missing = "flight_delay/v0404/model.joblib"

    with pytest.raises(ArtifactError, match="v0404") as info:
        store.get(missing)

    assert expected_uri(missing) in str(info.value)
    assert not isinstance(info.value, ArtifactExistsError)


def test_keys_are_independent(store) -> None:
    store.put("m/v1/model.joblib", b"one")
    store.put("m/v2/model.joblib", b"two")

    assert store.get("m/v1/model.joblib") == b"one"
    assert store.get("m/v2/model.joblib") == b"two"


def test_local_store_leaves_no_temp_files(tmp_path: Path) -> None:
    store = open_store(ArtifactsConfig(root=str(tmp_path / "artifacts")))
    store.put(KEY, b"first")
    with pytest.raises(ArtifactExistsError):
        store.put(KEY, b"second")
    store.put(KEY, b"third", overwrite=True)

    files = sorted(p.name for p in (tmp_path / "artifacts").rglob("*") if p.is_file())

    assert files == ["model.joblib"]
    assert (tmp_path / "artifacts" / KEY).read_bytes() == b"third"


def test_s3_store_writes_under_the_prefix(s3_root: str, s3_endpoint: str) -> None:
    import boto3

    store = open_store(ArtifactsConfig(root=s3_root + "/", endpoint_url=s3_endpoint))
    store.put(KEY, b"payload")

    bucket, _, prefix = s3_root[len("s3://") :].partition("/")
    listed = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=bucket)
    assert [obj["Key"] for obj in listed["Contents"]] == [f"{prefix}/{KEY}"]


def test_s3_missing_bucket_raises_artifact_error(s3_endpoint: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    store = open_store(ArtifactsConfig(root="s3://no-such-bucket-for-tests/models", endpoint_url=s3_endpoint))

    for call in (lambda: store.put(KEY, b"x"), lambda: store.get(KEY)):
        with pytest.raises(ArtifactError) as info:
            call()
        assert "s3://no-such-bucket-for-tests/models/" + KEY in str(info.value)
        assert not isinstance(info.value, ArtifactExistsError | ClientError | BotoCoreError)
