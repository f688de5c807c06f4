"""Tests of the configuration loader: one shared file plus one file per model, YAML defaults,
environment and keyword overrides, and the :class:`ConfigError` raised for every kind of bad input,
naming the file and the offending key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.config import DEFAULT_CONFIG, PROJECT_ROOT, ConfigError, load_config, load_models, load_shared
from pipeline.errors import PermanentError

MODEL = "flight_delay"
MODEL_FILE = PROJECT_ROOT / "config" / "models" / f"{MODEL}.yaml"


@pytest.fixture
def raw_yaml() -> dict:
    """The shipped flight-delay model file as plain data, read independently of the loader."""
    return yaml.safe_load(MODEL_FILE.read_text())


def write_yaml(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def deployment(tmp_path: Path, raw_yaml: dict):
    """A config folder of its own: a shared file whose models_dir is ``tmp_path/models``. Returns a
    function that writes a model file there and returns the shared file's path."""
    shared = yaml.safe_load(DEFAULT_CONFIG.read_text()) | {"models_dir": str(tmp_path / "models")}
    path = write_yaml(tmp_path / "pipeline.yaml", shared)

    def add(name: str = MODEL, data: dict | None = None) -> Path:
        write_yaml(tmp_path / "models" / f"{name}.yaml", raw_yaml if data is None else data)
        return path

    return add


def test_defaults_come_from_the_yaml_files(raw_yaml: dict) -> None:
    shared = yaml.safe_load(DEFAULT_CONFIG.read_text())

    cfg = load_config(MODEL)

    assert cfg.model.name == MODEL  # the file's name
    assert cfg.source == MODEL_FILE
    assert cfg.task == raw_yaml["task"]
    assert cfg.warehouse.local_port == shared["warehouse"]["local_port"]
    assert cfg.artifacts.root == shared["artifacts"]["root"]
    assert cfg.schedule.retrain == raw_yaml["schedule"]["retrain"]
    assert cfg.schedule.start_date == raw_yaml["schedule"]["start_date"]
    assert cfg.training.window_days == raw_yaml["training"]["window_days"]
    assert cfg.model.params == raw_yaml["model"]["params"]
    assert cfg.predictions.table == raw_yaml["predictions"]["table"]
    assert cfg.dataset.key == [raw_yaml["dataset"]["key"]]
    assert cfg.dataset.features == raw_yaml["dataset"]["numeric_features"] + raw_yaml["dataset"]["categorical_features"]
    assert cfg.dataset.sql_path.is_file()
    assert cfg.validation.suite_path("training").is_file()


def test_every_shipped_model_file_validates() -> None:
    configs, errors = load_models()

    assert errors == {}
    assert set(configs) == {p.stem for p in (PROJECT_ROOT / "config" / "models").glob("*.yaml")}
    assert len({cfg.predictions.table for cfg in configs.values()}) == len(configs)


def test_environment_overrides_are_per_model(monkeypatch: pytest.MonkeyPatch, raw_yaml: dict) -> None:
    assert raw_yaml["schedule"]["retrain"] != "@daily"  # otherwise the override would prove nothing
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__SCHEDULE__RETRAIN", "@daily")
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__TRAINING__WINDOW_DAYS", "14")
    monkeypatch.setenv("PIPELINE_WAREHOUSE__LOCAL_PORT", "55432")

    cfg = load_config(MODEL)
    other = next(c for name, c in load_models()[0].items() if name != MODEL)

    assert cfg.schedule.retrain == "@daily"
    assert cfg.training.window_days == 14
    assert cfg.warehouse.local_port == other.warehouse.local_port == 55432  # shared by every model
    # Siblings of an overridden key keep their YAML values; other models are untouched.
    assert cfg.schedule.predict == raw_yaml["schedule"]["predict"]
    assert cfg.training.holdout_days == raw_yaml["training"]["holdout_days"]
    assert other.training.window_days != 14 or other.schedule.retrain != "@daily"


def test_keyword_overrides_beat_the_environment(monkeypatch: pytest.MonkeyPatch, raw_yaml: dict) -> None:
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__SCHEDULE__RETRAIN", "@daily")

    cfg = load_config(MODEL, schedule={"retrain": "@monthly"})

    assert cfg.schedule.retrain == "@monthly"
    assert cfg.schedule.timezone == raw_yaml["schedule"]["timezone"]


@pytest.mark.parametrize(
    ("env", "value", "key"),
    [
        ("PIPELINE_FLIGHT_DELAY__TRAINING__WINDOW_DAYS", "zero", "training.window_days"),
        ("PIPELINE_FLIGHT_DELAY__TRAINING__WINDOW_DAYS", "0", "training.window_days"),
        ("PIPELINE_FLIGHT_DELAY__SCHEDULE__RETRAIN", "every tuesday", "schedule.retrain"),
        ("PIPELINE_FLIGHT_DELAY__SCHEDULE__PREDICT", "61 * * * *", "schedule.predict"),
        ("PIPELINE_FLIGHT_DELAY__SCHEDULE__TIMEZONE", "Mars/Olympus_Mons", "schedule.timezone"),
        ("PIPELINE_FLIGHT_DELAY__PREDICTIONS__TABLE", "ml.preds; DROP TABLE x.flights", "predictions.table"),
        ("PIPELINE_FLIGHT_DELAY__PREDICTIONS__TABLE", "predictions", "predictions.table"),
        ("PIPELINE_FLIGHT_DELAY__MODEL__DECISION_THRESHOLD", "1.5", "model.decision_threshold"),
        ("PIPELINE_FLIGHT_DELAY__PROMOTION__METRIC", "rmse", "promotion.metric"),
        ("PIPELINE_FLIGHT_DELAY__TASK", "ranking", "task"),
        ("PIPELINE_WAREHOUSE__URL", "mysql://db/warehouse", "warehouse.url"),
        ("PIPELINE_ARTIFACTS__ROOT", "s3:///models", "artifacts.root"),
    ],
)
def test_bad_value_names_the_file_and_key(monkeypatch: pytest.MonkeyPatch, env: str, value: str, key: str) -> None:
    monkeypatch.setenv(env, value)

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as info:
        load_config(MODEL)

    shared = env.startswith(("PIPELINE_WAREHOUSE", "PIPELINE_ARTIFACTS"))
    assert str(DEFAULT_CONFIG if shared else MODEL_FILE) in str(info.value)


def test_config_error_is_permanent_and_a_value_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__TRAINING__WINDOW_DAYS", "zero")

    with pytest.raises(PermanentError) as info:
        load_config(MODEL)

    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, ValueError)


def test_every_bad_key_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__TRAINING__WINDOW_DAYS", "zero")
    monkeypatch.setenv("PIPELINE_FLIGHT_DELAY__SCHEDULE__RETRAIN", "whenever")

    with pytest.raises(ConfigError) as info:
        load_config(MODEL)

    assert "training.window_days" in str(info.value)
    assert "schedule.retrain" in str(info.value)


def test_a_bad_model_file_breaks_only_that_model(deployment, raw_yaml: dict) -> None:
    deployment("good")
    shared = deployment("broken", {**raw_yaml, "schedule": {**raw_yaml["schedule"], "retrain": "whenever"}})

    configs, errors = load_models(shared)

    assert list(configs) == ["good"]
    assert list(errors) == ["broken"]
    assert "broken.yaml" in str(errors["broken"]) and "schedule.retrain" in str(errors["broken"])


def test_unknown_key_in_a_model_file_is_rejected(deployment, raw_yaml: dict) -> None:
    raw_yaml["training"]["holdout_dayz"] = 7

    with pytest.raises(ConfigError, match=r"training\.holdout_dayz"):
        load_config(MODEL, deployment(MODEL, raw_yaml))


def test_unknown_section_in_a_model_file_is_rejected(deployment, raw_yaml: dict) -> None:
    raw_yaml["trainning"] = {"window_days": 7}

    with pytest.raises(ConfigError, match="trainning"):
        load_config(MODEL, deployment(MODEL, raw_yaml))


def test_model_sections_do_not_belong_in_the_shared_file(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "pipeline.yaml", {"training": {"window_days": 7}})

    with pytest.raises(ConfigError, match="training"):
        load_shared(path)


def test_unknown_model(deployment) -> None:
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_config("nope", deployment())


@pytest.mark.parametrize("name", ["Flight", "1st", "warehouse", "a-b"])
def test_bad_model_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="bad model name"):
        load_config(name)


def test_no_model_files(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "pipeline.yaml", {"models_dir": str(tmp_path / "empty")})

    with pytest.raises(ConfigError, match="no model files"):
        load_models(path)


def test_missing_file_named_by_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PIPELINE_CONFIG", str(tmp_path / "absent.yaml"))

    with pytest.raises(ConfigError, match="absent.yaml"):
        load_config(MODEL)


def test_malformed_yaml(deployment, tmp_path: Path) -> None:
    shared = deployment()
    (tmp_path / "models" / f"{MODEL}.yaml").write_text("training:\n  window_days: [1, 2\n")

    with pytest.raises(ConfigError, match=f"{MODEL}.yaml"):
        load_config(MODEL, shared)


def test_pipeline_config_env_selects_the_shared_file(monkeypatch: pytest.MonkeyPatch, deployment, raw_yaml) -> None:
    raw_yaml["training"]["window_days"] = 21
    monkeypatch.setenv("PIPELINE_CONFIG", str(deployment(MODEL, raw_yaml)))

    assert load_config(MODEL).training.window_days == 21


@pytest.mark.parametrize("field", ["timestamp", "label"])
def test_features_overlapping_timestamp_or_label_are_rejected(raw_yaml: dict, field: str) -> None:
    column = raw_yaml["dataset"][field]

    with pytest.raises(ConfigError, match=rf"dataset.*{column}"):
        load_config(MODEL, dataset={"numeric_features": [*raw_yaml["dataset"]["numeric_features"], column]})


@pytest.mark.parametrize("role", ["timestamp", "label"])
def test_a_key_that_is_also_the_timestamp_or_label_is_refused(raw_yaml: dict, role: str) -> None:
    column = raw_yaml["dataset"][role]

    with pytest.raises(ConfigError, match=rf"dataset: .*key column '{column}' is also the {role}"):
        load_config(MODEL, dataset={"key": ["flight_id", column]})


def test_composite_key() -> None:
    cfg = load_config(MODEL, dataset={"key": ["carrier_code", "flight_id"]})

    assert cfg.dataset.key == ["carrier_code", "flight_id"]


def test_promotion_metric_defaults_to_the_tasks(deployment, raw_yaml: dict) -> None:
    raw_yaml["promotion"] = {"min_improvement": 0.0}
    classifier = load_config(MODEL, deployment(MODEL, raw_yaml))
    regression = load_config("reg", deployment("reg", {**raw_yaml, "task": "regression"}))

    assert (classifier.promotion_metric, regression.promotion_metric) == ("roc_auc", "rmse")


def test_feature_listed_twice_is_rejected(raw_yaml: dict) -> None:
    categorical = raw_yaml["dataset"]["categorical_features"]

    with pytest.raises(ConfigError, match=rf"dataset.*{categorical[0]}"):
        load_config(MODEL, dataset={"numeric_features": ["month", categorical[0]]})


def test_missing_feature_sql_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dataset\.feature_sql"):
        load_config(MODEL, dataset={"feature_sql": str(tmp_path / "missing.sql")})


def test_config_is_frozen() -> None:
    cfg = load_config(MODEL)

    with pytest.raises(ValueError):
        cfg.training.window_days = 1  # type: ignore[misc]


def test_old_single_file_environment_overrides_fail_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_SCHEDULE__RETRAIN", "@daily")  # the one-file layout's form

    with pytest.raises(ConfigError, match="PIPELINE_<NAME>__<SECTION>__<KEY>"):
        load_config(MODEL)


@pytest.mark.parametrize("column", ["prediction", "run_id", "model_name"])
def test_a_key_named_like_a_predictions_column_is_refused(column: str) -> None:
    with pytest.raises(ConfigError, match=rf"dataset: .*{column}.*clash"):
        load_config(MODEL, dataset={"key": [column]})


@pytest.mark.parametrize("name", ["two__parts", "dataset"])
def test_model_names_that_would_confuse_environment_overrides_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="bad model name"):
        load_config(name)


def test_two_models_may_not_share_a_predictions_table(deployment, raw_yaml: dict) -> None:
    deployment("first")
    shared = deployment("second")  # the same file: the same predictions table

    configs, errors = load_models(shared)

    assert list(configs) == ["first"]
    assert "is also model first's predictions table" in str(errors["second"])


def test_predictions_table_names_are_lowercase(raw_yaml: dict) -> None:
    with pytest.raises(ConfigError, match=r"predictions\.table"):
        load_config(MODEL, predictions={"table": "ml.FlightPreds"})
