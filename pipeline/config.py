"""The pipeline's configuration: one YAML file, validated by pydantic, with environment overrides.

Precedence, highest first: keyword arguments to :func:`load_config`, environment variables
``PIPELINE_<SECTION>__<KEY>`` (for example ``PIPELINE_SCHEDULE__RETRAIN=@daily``), the YAML file
(``PIPELINE_CONFIG`` or ``config/pipeline.yaml``). Unknown keys and bad values raise
:class:`ConfigError`, whose message names every offending key.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any, Literal

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from pipeline.errors import PermanentError
from pipeline.metrics import (
    DEFAULT_DRIFT_THRESHOLDS,
    DEFAULT_MIN_BIN_ROWS,
    DEFAULT_MIN_ROWS,
    DEFAULT_PROMOTION_METRIC,
    DEFAULT_SIGNIFICANCE,
    ClassificationMetricName,
    DriftMetric,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "pipeline.yaml"
ENV_PREFIX = "PIPELINE_"

_QUALIFIED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")
_DOTTED_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")
_PRESETS = {"@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@annually", "@midnight"}


class ConfigError(PermanentError, ValueError):
    """The configuration is invalid; the message names each bad key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _resolve(path: Path) -> Path:
    return path if path.is_absolute() else PROJECT_ROOT / path


class WarehouseConfig(_Section):
    url: str | None = Field(None, description="PostgreSQL URL; None starts the project's own local cluster.")
    local_dir: Path = Path(".local/postgres")
    local_port: int = Field(54329, ge=1024, le=65535)

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, v: str | None) -> str | None:
        if v and not v.startswith(("postgresql://", "postgres://", "postgresql+psycopg2://")):
            raise ValueError("must be a postgresql:// URL")
        return v or None

    @property
    def local_path(self) -> Path:
        return _resolve(self.local_dir)


class ArtifactsConfig(_Section):
    root: str = Field(".local/artifacts", description="s3://bucket/prefix or a local directory.")
    endpoint_url: str | None = None

    @field_validator("root")
    @classmethod
    def _root(cls, v: str) -> str:
        if v.startswith("s3://") and not v[5:].split("/", 1)[0]:
            raise ValueError("an s3:// root needs a bucket, as s3://bucket/prefix")
        if not v.strip():
            raise ValueError("must not be empty")
        return v.rstrip("/")


class DatasetConfig(_Section):
    name: str
    feature_sql: Path
    key: str
    timestamp: str
    label: str
    numeric_features: list[str] = Field(default_factory=list)
    categorical_features: list[str] = Field(default_factory=list)

    @field_validator("feature_sql")
    @classmethod
    def _sql_exists(cls, v: Path) -> Path:
        if not _resolve(v).is_file():
            raise ValueError(f"file not found: {_resolve(v)}")
        return v

    @model_validator(mode="after")
    def _columns(self) -> DatasetConfig:
        features = self.numeric_features + self.categorical_features
        if not features:
            raise ValueError("numeric_features and categorical_features are both empty")
        dupes = sorted({c for c in features if features.count(c) > 1})
        if dupes:
            raise ValueError(f"features listed twice: {dupes}")
        clash = {self.key, self.timestamp, self.label} & set(features)
        if clash:
            raise ValueError(f"key, timestamp or label also listed as a feature: {sorted(clash)}")
        return self

    @property
    def features(self) -> list[str]:
        return self.numeric_features + self.categorical_features

    @property
    def sql_path(self) -> Path:
        return _resolve(self.feature_sql)


class ValidationConfig(_Section):
    training_suite: Path
    scoring_suite: Path

    @field_validator("training_suite", "scoring_suite")
    @classmethod
    def _suite_exists(cls, v: Path) -> Path:
        if not _resolve(v).is_file():
            raise ValueError(f"file not found: {_resolve(v)}")
        return v

    def suite_path(self, kind: Literal["training", "scoring"]) -> Path:
        return _resolve(self.training_suite if kind == "training" else self.scoring_suite)


class ModelConfig(_Section):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    estimator: str = "sklearn.ensemble.HistGradientBoostingClassifier"
    params: dict[str, Any] = Field(default_factory=dict)
    random_seed: int = 42
    decision_threshold: float = Field(0.5, gt=0, lt=1)

    @field_validator("estimator")
    @classmethod
    def _dotted(cls, v: str) -> str:
        if not _DOTTED_PATH.match(v):
            raise ValueError("must be an importable class path such as sklearn.linear_model.LogisticRegression")
        return v


class TrainingConfig(_Section):
    window_days: int = Field(56, ge=1)
    holdout_days: int = Field(7, ge=1)


class PromotionConfig(_Section):
    metric: ClassificationMetricName = DEFAULT_PROMOTION_METRIC
    min_improvement: float = Field(0.0, ge=0)


class PredictionsConfig(_Section):
    table: str = Field(description="schema.table that receives this model's predictions")
    shadow_versions: list[int] = Field(
        default_factory=list, description="Challenger versions that also score every interval, marked not live."
    )
    shadow_latest_candidate: bool = Field(
        False, description="Also score in shadow with the newest registered version that was not promoted."
    )
    rows_per_partition: int = Field(
        250_000, ge=1, description="Scoring splits an interval into hash partitions of about this many rows."
    )
    max_partitions: int = Field(16, ge=1, description="Upper bound on an interval's scoring partitions.")
    chunk_rows: int = Field(50_000, ge=1, description="Rows scored and written per chunk within a partition.")

    @field_validator("table")
    @classmethod
    def _qualified(cls, v: str) -> str:
        if not _QUALIFIED_NAME.match(v):
            raise ValueError("must be schema.table, letters, digits and underscores only")
        return v

    @property
    def schema_name(self) -> str:
        return self.table.split(".")[0]

    @property
    def table_name(self) -> str:
        return self.table.split(".")[1]


class ScheduleConfig(_Section):
    retrain: str = "@weekly"
    predict: str = "@daily"
    start_date: dt.date = dt.date(2013, 1, 1)
    timezone: str = "UTC"
    catchup: bool = False

    @field_validator("retrain", "predict")
    @classmethod
    def _cron(cls, v: str) -> str:
        if v not in _PRESETS and not croniter.is_valid(v):
            raise ValueError(f"not a cron expression or preset: {v!r}")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v


class MonitoringConfig(_Section):
    """Drift and realized-performance monitoring, and when it asks for a retrain."""

    schedule: str = "@daily"
    window_days: int = Field(7, ge=1, description="Days of recent data compared against the champion's reference.")
    features: list[str] | None = Field(
        None, description="Features whose drift counts toward the retrain trigger; None: every configured feature."
    )
    thresholds: dict[DriftMetric, float] = Field(
        default_factory=lambda: dict(DEFAULT_DRIFT_THRESHOLDS),
        description="Distance above which a feature or the score distribution counts as drifted, on windows "
        "large enough; on small ones the critical value at `significance` is used where it is higher.",
    )
    significance: float | None = Field(
        DEFAULT_SIGNIFICANCE,
        gt=0,
        lt=1,
        description="A distance counts as drift only above the critical value of its no-shift distribution at "
        "this level for the window's and the reference's sizes (and above its threshold): the false-alarm rate "
        "per feature and statistic. None: the thresholds alone.",
    )
    min_rows: int = Field(
        DEFAULT_MIN_ROWS,
        ge=1,
        description="A window (or reference) with fewer rows is measured but never flagged drifted: its "
        "thresholds are stored as NaN.",
    )
    min_bin_rows: int = Field(
        DEFAULT_MIN_BIN_ROWS,
        ge=0,
        description="PSI and Jensen-Shannon bins are pooled (fewer quantile bins, rare categories merged) until "
        "each expects at least this many of the window's rows; 0: no pooling.",
    )
    trigger_feature_share: float = Field(0.5, gt=0, le=1, description="Retrain when this share of features drift.")
    trigger_prediction_psi: float = Field(
        0.25,
        gt=0,
        description="Retrain when the score PSI exceeds this and the score drifted by PSI (its sample-size aware "
        "threshold): a floor on the score's PSI threshold.",
    )
    trigger_min_roc_auc: float | None = Field(0.65, gt=0, lt=1, description="Retrain when realized AUC falls below.")
    cooldown_days: int = Field(7, ge=0, description="At most one drift-triggered retrain per this many days.")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        return ScheduleConfig._cron(v)


class PipelineConfig(BaseSettings):
    """The whole configuration. Build it with :func:`load_config`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True)

    warehouse: WarehouseConfig = WarehouseConfig()
    artifacts: ArtifactsConfig = ArtifactsConfig()
    dataset: DatasetConfig
    validation: ValidationConfig
    model: ModelConfig
    training: TrainingConfig = TrainingConfig()
    promotion: PromotionConfig = PromotionConfig()
    predictions: PredictionsConfig
    schedule: ScheduleConfig = ScheduleConfig()
    monitoring: MonitoringConfig = MonitoringConfig()

    @property
    def retrain_request_asset(self) -> str:
        """Name of the Airflow Asset through which ``monitor`` asks ``retrain`` for a new model."""
        return f"{self.model.name}.retrain_request"

    @property
    def voting_features(self) -> list[str]:
        """The features whose drift counts toward the retrain trigger: ``monitoring.features``, or every
        feature of the dataset when unset."""
        return self.monitoring.features or self.dataset.features

    @model_validator(mode="after")
    def _monitored_features_exist(self) -> PipelineConfig:
        unknown = set(self.monitoring.features or []) - set(self.dataset.features)
        if unknown:
            raise ValueError(f"monitoring.features lists columns that are not features: {sorted(unknown)}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, YamlConfigSettingsSource(settings_cls)


def load_config(path: str | Path | None = None, **overrides: Any) -> PipelineConfig:
    """Read, merge and validate the configuration.

    Args:
        path: YAML file; default ``$PIPELINE_CONFIG`` or ``config/pipeline.yaml``.
        **overrides: top-level sections as dicts, highest precedence (used by tests and the CLI).

    Returns:
        The frozen :class:`PipelineConfig`.

    Raises:
        ConfigError: the file is missing or not YAML, or any key is unknown or invalid. The message
            lists each failing key as ``section.key: reason``.
    """
    yaml_file = Path(path) if path else Path(os.environ.get("PIPELINE_CONFIG", DEFAULT_CONFIG))
    if not yaml_file.is_file():
        raise ConfigError(f"config file not found: {yaml_file}")
    bound = type(
        "PipelineConfig", (PipelineConfig,), {"model_config": {**PipelineConfig.model_config, "yaml_file": yaml_file}}
    )
    try:
        return bound(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid pipeline config ({yaml_file}): {problems}") from None
    except Exception as exc:  # YAML syntax errors and unreadable files
        raise ConfigError(f"cannot read pipeline config {yaml_file}: {exc}") from exc


def with_window_days(cfg: PipelineConfig, window_days: int | None) -> PipelineConfig:
    """``cfg`` with ``training.window_days`` replaced (a manual run's override), re-validated.

    Raises:
        pydantic.ValidationError: ``window_days`` is below 1.
    """
    if window_days is None or window_days == cfg.training.window_days:
        return cfg
    return _with_section(cfg, "training", window_days=window_days)


def with_model_params(cfg: PipelineConfig, **params: Any) -> PipelineConfig:
    """``cfg`` with ``model.params`` updated by ``params`` (a manual run's override), re-validated.

    Raises:
        pydantic.ValidationError: the model section no longer validates.
    """
    if not params:
        return cfg
    return _with_section(cfg, "model", params={**cfg.model.params, **params})


def _with_section(cfg: PipelineConfig, name: str, **changes: Any) -> PipelineConfig:
    section = getattr(cfg, name)
    return cfg.model_copy(update={name: type(section).model_validate({**section.model_dump(), **changes})})
