"""Tests of the configuration loader: YAML defaults, environment and keyword overrides, and the
:class:`ConfigError` raised for every kind of bad input, naming the offending key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.config import DEFAULT_CONFIG, ConfigError, load_config
from pipeline.errors import PermanentError


@pytest.fixture
def raw_yaml() -> dict:
    """The shipped config/pipeline.yaml as plain data, read independently of the loader."""
    return yaml.safe_load(DEFAULT_CONFIG.read_text())


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_defaults_come_from_the_yaml_file(raw_yaml: dict) -> None:
    cfg = load_config()

    assert cfg.schedule.retrain == raw_yaml["schedule"]["retrain"]
    assert cfg.schedule.predict == raw_yaml["schedule"]["predict"]
    assert cfg.schedule.start_date == raw_yaml["schedule"]["start_date"]
    assert cfg.training.window_days == raw_yaml["training"]["window_days"]
    assert cfg.training.holdout_days == raw_yaml["training"]["holdout_days"]
    assert cfg.model.name == raw_yaml["model"]["name"]
    assert cfg.model.params == raw_yaml["model"]["params"]
    assert cfg.predictions.table == raw_yaml["predictions"]["table"]
    assert cfg.dataset.key == raw_yaml["dataset"]["key"]
    assert cfg.dataset.label == raw_yaml["dataset"]["label"]
    assert cfg.dataset.features == raw_yaml["dataset"]["numeric_features"] + raw_yaml["dataset"]["categorical_features"]
    assert cfg.dataset.sql_path.is_file()
    assert cfg.validation.suite_path("training").is_file()
    assert cfg.validation.suite_path("scoring").is_file()


def test_environment_overrides_the_yaml(monkeypatch: pytest.MonkeyPatch, raw_yaml: dict) -> None:
    assert raw_yaml["schedule"]["retrain"] != "@daily"  # otherwise the override would prove nothing
    monkeypatch.setenv("PIPELINE_SCHEDULE__RETRAIN", "@daily")
    monkeypatch.setenv("PIPELINE_TRAINING__WINDOW_DAYS", "14")

    cfg = load_config()

    assert cfg.schedule.retrain == "@daily"
    assert cfg.training.window_days == 14
    # Siblings of an overridden key keep their YAML values.
    assert cfg.schedule.predict == raw_yaml["schedule"]["predict"]
    assert cfg.training.holdout_days == raw_yaml["training"]["holdout_days"]


def test_keyword_overrides_beat_the_environment(monkeypatch: pytest.MonkeyPatch, raw_yaml: dict) -> None:
    monkeypatch.setenv("PIPELINE_SCHEDULE__RETRAIN", "@daily")

    cfg = load_config(schedule={"retrain": "@monthly"})

    assert cfg.schedule.retrain == "@monthly"
    assert cfg.schedule.timezone == raw_yaml["schedule"]["timezone"]


@pytest.mark.parametrize(
    ("env", "value", "key"),
    [
        ("PIPELINE_TRAINING__WINDOW_DAYS", "zero", "training.window_days"),
        ("PIPELINE_TRAINING__WINDOW_DAYS", "0", "training.window_days"),
        ("PIPELINE_SCHEDULE__RETRAIN", "every tuesday", "schedule.retrain"),
        ("PIPELINE_SCHEDULE__PREDICT", "61 * * * *", "schedule.predict"),
        ("PIPELINE_SCHEDULE__TIMEZONE", "Mars/Olympus_Mons", "schedule.timezone"),
        ("PIPELINE_PREDICTIONS__TABLE", "ml.preds; DROP TABLE raw.flights", "predictions.table"),
        ("PIPELINE_PREDICTIONS__TABLE", "predictions", "predictions.table"),
        ("PIPELINE_MODEL__DECISION_THRESHOLD", "1.5", "model.decision_threshold"),
        ("PIPELINE_PROMOTION__METRIC", "accuracy", "promotion.metric"),
        ("PIPELINE_WAREHOUSE__URL", "mysql://db/warehouse", "warehouse.url"),
        ("PIPELINE_ARTIFACTS__ROOT", "s3:///models", "artifacts.root"),
    ],
)
def test_bad_environment_value_names_the_key(monkeypatch: pytest.MonkeyPatch, env: str, value: str, key: str) -> None:
    monkeypatch.setenv(env, value)

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config()


def test_config_error_is_permanent_and_a_value_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_TRAINING__WINDOW_DAYS", "zero")

    with pytest.raises(PermanentError) as info:
        load_config()

    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, ValueError)


def test_every_bad_key_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_TRAINING__WINDOW_DAYS", "zero")
    monkeypatch.setenv("PIPELINE_SCHEDULE__RETRAIN", "whenever")

    with pytest.raises(ConfigError) as info:
        load_config()

    assert "training.window_days" in str(info.value)
    assert "schedule.retrain" in str(info.value)


def test_unknown_key_in_yaml_is_rejected(tmp_path: Path, raw_yaml: dict) -> None:
    raw_yaml["training"]["holdout_dayz"] = 7
    path = write_yaml(tmp_path / "pipeline.yaml", raw_yaml)

    with pytest.raises(ConfigError, match=r"training\.holdout_dayz"):
        load_config(path)


def test_unknown_section_in_yaml_is_rejected(tmp_path: Path, raw_yaml: dict) -> None:
    raw_yaml["trainning"] = {"window_days": 7}
    path = write_yaml(tmp_path / "pipeline.yaml", raw_yaml)

    with pytest.raises(ConfigError, match="trainning"):
        load_config(path)


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    with pytest.raises(ConfigError, match="nope.yaml"):
        load_config(missing)


def test_missing_file_named_by_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PIPELINE_CONFIG", str(tmp_path / "absent.yaml"))

    with pytest.raises(ConfigError, match="absent.yaml"):
        load_config()


def test_malformed_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("training:\n  window_days: [1, 2\n")

    with pytest.raises(ConfigError, match="broken.yaml"):
        load_config(path)


def test_pipeline_config_env_selects_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, raw_yaml: dict) -> None:
    raw_yaml["schedule"]["retrain"] = "0 3 * * 1"
    raw_yaml["training"]["window_days"] = 21
    raw_yaml["predictions"]["table"] = "scores.flight_delay"
    monkeypatch.setenv("PIPELINE_CONFIG", str(write_yaml(tmp_path / "other.yaml", raw_yaml)))

    cfg = load_config()

    assert cfg.schedule.retrain == "0 3 * * 1"
    assert cfg.training.window_days == 21
    assert (cfg.predictions.schema_name, cfg.predictions.table_name) == ("scores", "flight_delay")


def test_explicit_path_beats_pipeline_config_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, raw_yaml: dict
) -> None:
    monkeypatch.setenv("PIPELINE_CONFIG", str(tmp_path / "absent.yaml"))
    raw_yaml["training"]["holdout_days"] = 3

    cfg = load_config(write_yaml(tmp_path / "explicit.yaml", raw_yaml))

    assert cfg.training.holdout_days == 3


@pytest.mark.parametrize("field", ["key", "timestamp", "label"])
def test_features_overlapping_key_timestamp_or_label_are_rejected(raw_yaml: dict, field: str) -> None:
    column = raw_yaml["dataset"][field]

    with pytest.raises(ConfigError, match=rf"dataset.*{column}"):
        load_config(dataset={"numeric_features": [*raw_yaml["dataset"]["numeric_features"], column]})


def test_feature_listed_twice_is_rejected(raw_yaml: dict) -> None:
    categorical = raw_yaml["dataset"]["categorical_features"]

    with pytest.raises(ConfigError, match=rf"dataset.*{categorical[0]}"):
        load_config(dataset={"numeric_features": ["month", categorical[0]]})


def test_missing_feature_sql_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dataset\.feature_sql"):
        load_config(dataset={"feature_sql": str(tmp_path / "missing.sql")})


def test_config_is_frozen() -> None:
    cfg = load_config()

    with pytest.raises(ValueError):
        cfg.training.window_days = 1  # type: ignore[misc]
