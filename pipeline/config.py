"""The pipeline's configuration: one shared YAML file plus one YAML file per model, validated by
pydantic, with environment overrides.

- **Shared** (``config/pipeline.yaml``, or ``PIPELINE_CONFIG``): ``warehouse``, ``artifacts``,
  ``retention`` (how long run leftovers are kept), ``airflow`` (the Connections the DAGs read
  credentials from), ``alerts`` and ``models_dir``, the folder of model files. Environment overrides:
  ``PIPELINE_<SECTION>__<KEY>``, for example ``PIPELINE_WAREHOUSE__URL``.
- **One file per model** (``<models_dir>/<name>.yaml``; the file name is the model's name): ``task``,
  ``dataset``, ``validation``, ``model``, ``training``, ``promotion``, ``predictions``, ``schedule`` and
  ``monitoring``. Environment overrides: ``PIPELINE_<NAME>__<SECTION>__<KEY>``, for example
  ``PIPELINE_FLIGHT_DELAY__SCHEDULE__RETRAIN=@daily``.

Precedence, highest first: keyword arguments to :func:`load_config`, environment variables, the YAML
files. Unknown keys and bad values raise :class:`ConfigError`, whose message names the file and every
offending key; so does a ``PIPELINE_*`` variable that names no setting (:func:`check_environment`).
Each model file is validated on its own, so a bad one breaks only that model (:func:`load_models`).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from pipeline.errors import PermanentError
from pipeline.metrics import (
    DEFAULT_DRIFT_THRESHOLDS,
    DEFAULT_MIN_BIN_ROWS,
    DEFAULT_MIN_ROWS,
    DEFAULT_SIGNIFICANCE,
    DriftMetric,
    Task,
    default_promotion_metric,
    holdout_metric_names,
    is_metric_for,
)
from pipeline.schedule import CUTOFF_COLUMN, CutoffRule, is_cron, predict_grid

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "pipeline.yaml"
ENV_PREFIX = "PIPELINE_"

_QUALIFIED_NAME = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
_DOTTED_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")
# Lowercase words joined by single underscores: "__" separates a model's name from its section in
# environment overrides, so it may not appear in a name.
_MODEL_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# The columns of a predictions table after the key: the task's outputs, then the run's identity (and,
# in its staging table, the partition). A key column of one of these names would clash.
PREDICTION_OUTPUTS: dict[str, tuple[str, ...]] = {
    "binary_classification": ("prediction", "score", "predicted_label"),
    "regression": ("prediction",),
}
PREDICTION_RUN_COLUMNS = (
    "model_name",
    "model_version",
    "is_champion",
    "predicted_at",
    "data_interval_start",
    "data_interval_end",
    "as_of",
    "window_start",
    "window_end",
    "run_id",
)
_PREDICTIONS_COLUMNS = {*PREDICTION_OUTPUTS["binary_classification"], *PREDICTION_RUN_COLUMNS, "partition"}
# Model names that would make a model's environment overrides collide with the shared file's.
_RESERVED_NAMES = {
    "warehouse",
    "artifacts",
    "retention",
    "airflow",
    "alerts",
    "models_dir",
    "config",
    "task",
    "dataset",
    "validation",
    "model",
    "training",
    "promotion",
    "predictions",
    "schedule",
    "monitoring",
}


class ConfigError(PermanentError, ValueError):
    """The configuration is invalid; the message names each bad key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _resolve(path: Path) -> Path:
    return path if path.is_absolute() else PROJECT_ROOT / path


def _existing_file(path: Path) -> Path:
    if not _resolve(path).is_file():
        raise ValueError(f"file not found: {_resolve(path)}")
    return path


SqlFile = Annotated[Path, AfterValidator(_existing_file)]
"""A SQL file's path, relative to the repository root or absolute, that must exist."""


def _qualified_name(v: str) -> str:
    if not _QUALIFIED_NAME.match(v):
        raise ValueError(f"{v!r} is not schema.table: lowercase letters, digits and underscores only")
    return v


QualifiedName = Annotated[str, AfterValidator(_qualified_name)]
"""A ``schema.table`` name: lowercase letters, digits and underscores."""


def _aware(v: dt.datetime) -> dt.datetime:
    if v.tzinfo is None:
        raise ValueError(f"{v} has no time zone: write it with an offset, as 2000-01-01T00:00:00Z")
    return v


AwareDatetime = Annotated[dt.datetime, AfterValidator(_aware)]
"""A timezone-aware datetime (a period grid's origin)."""


class WarehouseConfig(_Section):
    url: str | None = Field(None, description="PostgreSQL URL; None starts the project's own local cluster.")
    local_dir: Path = Field(
        Path(".local/postgres"),
        description="Folder of the project's own local PostgreSQL cluster, used when url is empty.",
    )
    local_port: int = Field(
        54329,
        ge=1024,
        le=65535,
        description="Port of the local cluster. Without url, every run first checks that the server on this port "
        "is the cluster in local_dir, and refuses another one.",
    )

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
    """Where artifacts live, and the S3 credentials to reach them. Credentials left unset come from
    boto3's usual chain (environment, profile, role); the DAGs fill them in from ``airflow.aws_conn_id``.
    Secrets are :class:`~pydantic.SecretStr`: dumps and reprs show ``**********``."""

    root: str = Field(".local/artifacts", description="s3://bucket/prefix or a local directory.")
    endpoint_url: str | None = Field(None, description="S3 endpoint of an S3-compatible store (MinIO); None: AWS S3.")
    region_name: str | None = Field(None, description="S3 region; None: boto3's usual chain.")
    access_key_id: SecretStr | None = Field(None, description="S3 access key id; None: boto3's usual chain.")
    secret_access_key: SecretStr | None = Field(None, description="S3 secret access key; None: boto3's usual chain.")
    session_token: SecretStr | None = Field(None, description="S3 session token; None: boto3's usual chain.")

    @field_validator("root")
    @classmethod
    def _root(cls, v: str) -> str:
        if v.startswith("s3://") and not v[5:].split("/", 1)[0]:
            raise ValueError("an s3:// root needs a bucket, as s3://bucket/prefix")
        if not v.strip():
            raise ValueError("must not be empty")
        return v.rstrip("/")


class RetentionConfig(_Section):
    """How long the leftovers of runs are kept before ``pipeline cleanup`` (and the ``cleanup`` DAG)
    removes them. Ages count back from the cleanup run's logical date (``--as-of`` for the CLI) to
    when the leftover was written (wall-clock time): an as-of date in the future takes in-flight runs."""

    staging_hours: float = Field(
        24, gt=0, description="Staged predictions older than this belong to a crashed predict run and are deleted."
    )
    run_artifacts_days: float = Field(
        14,
        gt=0,
        description="Run-scoped files under runs/ (training batches) older than this are deleted, except those "
        "a registry or validation record points at.",
    )
    served_features_days: float = Field(
        30,
        gt=0,
        description="Predict runs' feature batches (runs/predict__<model>/<run>/features/) older than this are "
        "deleted. Never less than a model's monitoring windows (monitoring.window_days and "
        "monitoring.trigger.performance_window_days), which read them: a smaller value is raised to those.",
    )


class AirflowConfig(_Section):
    """Airflow Connections the DAGs read credentials from. None: the ``warehouse`` and ``artifacts``
    sections (and their environment overrides) as they stand, as the CLI always uses them."""

    warehouse_conn_id: str | None = Field(None, description="Postgres connection of the warehouse.")
    aws_conn_id: str | None = Field(
        None, description="AWS connection of the artifact store: key, secret, session token, region, endpoint_url."
    )


class AlertsConfig(_Section):
    """Where the DAGs send alerts (task failures, a late predict run, monitor decisions). Secrets live in
    Airflow Connections, named here; no target set: alerts are only logged."""

    webhook_conn_id: str | None = Field(
        None, description="HTTP connection whose URL (host, or schema://host:port) receives each alert as JSON POST."
    )
    smtp_to: list[str] = Field(default_factory=list, description="Mail each alert to these addresses.")
    smtp_conn_id: str | None = Field(None, description="SMTP connection; None: Airflow's [email] email_conn_id.")
    deadline_minutes: int | None = Field(
        None,
        ge=1,
        description="Alert when a predict run has not published this long after it was queued; None: off. "
        "Off under `airflow dags test`: Airflow 3.3.2's dag.test fails a DAG run with a deadline as it ends.",
    )
    monitor_decisions: bool = Field(
        False, description="Also alert when monitor asks for a retrain (or a cooldown holds one back)."
    )


class SourceConfig(_Section):
    """One source table of the feature query and when its facts become known, for the leakage check
    (``pipeline check-leakage``; :mod:`pipeline.features.leakage`)."""

    table: QualifiedName = Field(description="schema.table the feature query reads")
    stamp: str = Field(
        min_length=1,
        description="SQL expression over the table's columns: when the row's facts (mode delete) or its "
        "``columns`` (mode change) became known (timestamptz). Trusted text, pasted into the check's statements "
        "as written. A NULL stamp counts as never known.",
    )
    mode: Literal["delete", "change"] = Field(
        description="delete: rows that exist only once observed (weather observations) are deleted when stamped "
        "after the cutoff; change: rows known earlier (a flight's schedule) get their later-observed "
        "``columns`` changed."
    )
    columns: list[str] = Field(
        default_factory=list,
        description="mode change only: the columns observed at ``stamp`` (numbers, text, booleans or times).",
    )

    @field_validator("stamp")
    @classmethod
    def _no_percent(cls, v: str) -> str:
        if "%" in v:  # the statements it is pasted into take %(name)s bind parameters
            raise ValueError(f"{v!r}: no % sign in a stamp (write mod(a, b) for a modulo)")
        return v

    @model_validator(mode="after")
    def _columns_for_mode(self) -> SourceConfig:
        if self.mode == "change" and not self.columns:
            raise ValueError(f"{self.table}: mode change needs the columns observed at the stamp")
        if self.mode == "delete" and self.columns:
            raise ValueError(f"{self.table}: mode delete deletes whole rows; remove columns")
        if len(set(self.columns)) < len(self.columns):
            raise ValueError(f"{self.table}: columns lists a column twice: {self.columns}")
        return self


class AggregateConfig(_Section):
    """One pre-aggregated table the feature query reads: per-period aggregates of its sources (say one
    row per day and key: flights, delayed flights) that the pipeline keeps current before every feature
    extraction (:mod:`pipeline.features.aggregates`), so a trailing 28-day rate reads 28 rows instead
    of 28 days of events."""

    name: str = Field(
        description="The aggregate's name: lowercase words joined by underscores, unique among the models that "
        "share a warehouse. Its built periods are recorded under it in ml.aggregate_periods."
    )
    build_sql: SqlFile = Field(
        description="SQL file of the statements that rebuild every period in [start, end) idempotently (delete "
        "those periods' rows, insert them anew; create the table if missing). Bind parameters: start, end "
        "(timestamptz on the period grid), period (interval) and origin (timestamptz). Run in one transaction."
    )
    source_sql: SqlFile = Field(
        description="SQL file of one query over the sources, with the same bind parameters: one row per period in "
        "[start, end) that holds source data, as (period_start timestamptz, source_rows bigint). A period without "
        "source data after the first one with data is a missing source period: an error that names it."
    )
    period: dt.timedelta = Field(
        dt.timedelta(days=1),
        gt=dt.timedelta(0),
        description="Length of one period, an ISO 8601 duration of fixed length (P1D: a day, PT1H: an hour). "
        "Periods start at origin plus whole periods.",
    )
    origin: AwareDatetime = Field(
        dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
        description="A period boundary (timezone-aware); the default makes daily periods UTC days.",
    )
    known_after: dt.timedelta = Field(
        dt.timedelta(0),
        ge=dt.timedelta(0),
        description="How long after its end a period's aggregate is known: 0 when every event of the period is in "
        "the sources by its end, more when events arrive late. A period [s, e) is built, and may be read by a "
        "cutoff, from e + known_after on.",
    )
    lookback: dt.timedelta = Field(
        gt=dt.timedelta(0),
        description="The longest span before a cutoff the feature query reads from this aggregate (28 days for a "
        "trailing 28-day rate): the periods an extraction needs built.",
    )

    @field_validator("name")
    @classmethod
    def _aggregate_name(cls, v: str) -> str:
        if not _MODEL_NAME.match(v):
            raise ValueError(f"{v!r} is not lowercase words joined by single underscores")
        return v

    def text(self, which: Literal["build", "source"]) -> str:
        """The text of the build or source SQL file, as run (no trailing semicolon)."""
        path = self.build_sql if which == "build" else self.source_sql
        return _resolve(path).read_text().strip().rstrip(";")


class FeatureStoreConfig(_Section):
    """The offline store: the feature table's completed periods, computed once by the feature query and kept
    in a warehouse table, so a long extraction (retrain, monitor, the study) reads them instead of computing
    its history again (:mod:`pipeline.features.store`)."""

    table: QualifiedName = Field(
        description="schema.table of the store, created and owned by the pipeline (dropped and recreated when the "
        "feature query, its aggregates, the cutoff rule, the timestamp or key change; a table it did not create is "
        "never dropped: an error). Unique among the models that share a warehouse."
    )
    period: dt.timedelta = Field(
        dt.timedelta(days=1),
        gt=dt.timedelta(0),
        description="Length of one stored period of entity timestamps, a fixed ISO 8601 duration (P1D: a day).",
    )
    origin: AwareDatetime = Field(
        dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
        description="A period boundary (timezone-aware); the default makes daily periods UTC days.",
    )
    known_after: dt.timedelta = Field(
        ge=dt.timedelta(0),
        description="How long after its end a period's rows are final: every source fact its features and labels "
        "read is in the warehouse (the longest a label takes to be observed, say). A period [s, e) is stored once "
        "e + known_after is at or before an extraction's last cutoff; later rows are computed live.",
    )

    @property
    def name(self) -> str:
        """The store's name in ``ml.aggregate_periods`` and its advisory lock: its table."""
        return self.table


class DatasetConfig(_Section):
    name: str = Field(description="The dataset's name, used in log lines, messages and drafted suites' names.")
    feature_sql: SqlFile = Field(
        description="The feature query (SQL file): receives the entity window and the cutoff rule as bind parameters "
        "(start, end, lead, horizon, origin) and computes each row's features as of its own cutoff (as_of)."
    )
    key: list[str] = Field(
        min_length=1, description="The entity key: one column, or a list of columns (a composite key)."
    )
    timestamp: str = Field(
        description="timestamptz column placing each entity in time: the windows filter on it. Not a key column."
    )
    label: str = Field(
        description="The target column: 0/1 for binary_classification, a number for regression; NULL until observed."
    )
    label_known_at: str = Field(
        "label_known_at",
        description="Column of the feature query holding when each row's label was observed (timestamptz; NULL "
        "while unknown). Training uses a label only when it was known by the retrain run's cutoff (at or before "
        "it), the monitor only when known by its own.",
    )
    numeric_features: list[str] = Field(
        default_factory=list,
        description="Numeric feature columns (missing values imputed with the training median plus an indicator).",
    )
    categorical_features: list[str] = Field(
        default_factory=list,
        description="Categorical (text) feature columns, one-hot encoded; a missing value is a category of its own.",
    )
    coverage: str | None = Field(
        None, description="Which dates have data, in words; shown in each of the model's DAG docs."
    )
    sources: list[SourceConfig] = Field(
        default_factory=list,
        description="The feature query's source tables and when their facts become known: what the leakage check "
        "(pipeline check-leakage) deletes or changes after each cutoff. Empty: the check refuses to run.",
    )
    aggregates: list[AggregateConfig] = Field(
        default_factory=list,
        description="Pre-aggregated tables the feature query reads (trailing rates over per-day tiles, say), kept "
        "current by the pipeline before every feature extraction (docs/features.md, Aggregates).",
    )
    store: FeatureStoreConfig | None = Field(
        None,
        description="The offline store of the feature table's completed periods (docs/features.md, Offline store); "
        "None: every extraction computes all its rows.",
    )

    @field_validator("key", mode="before")
    @classmethod
    def _key_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _columns(self) -> DatasetConfig:
        features = self.numeric_features + self.categorical_features
        if not features:
            raise ValueError("numeric_features and categorical_features are both empty")
        dupes = sorted({c for c in features if features.count(c) > 1})
        if dupes:
            raise ValueError(f"features listed twice: {dupes}")
        if len(set(self.key)) < len(self.key):
            raise ValueError(f"key lists a column twice: {self.key}")
        reserved = sorted(set(self.key) & _PREDICTIONS_COLUMNS)
        if reserved:
            raise ValueError(f"key column(s) {reserved} clash with the predictions table's own columns: rename them")
        for column in self.key:
            if column in (self.timestamp, self.label, self.label_known_at):
                role = "timestamp" if column == self.timestamp else "label"
                raise ValueError(f"key column {column!r} is also the {role}: the key must identify the entity alone")
        # A key column may be a feature (an airport in an (airport, hour) key); the timestamp and the
        # label may not.
        clash = {self.timestamp, self.label, self.label_known_at, CUTOFF_COLUMN} & set(features)
        if clash:
            raise ValueError(
                f"timestamp, label, label_known_at or {CUTOFF_COLUMN} listed as a feature: {sorted(clash)}"
            )
        changed = [(s.table, c) for s in self.sources for c in s.columns]
        twice = sorted({f"{t}.{c}" for t, c in changed if changed.count((t, c)) > 1})
        if twice:
            raise ValueError(f"sources: a column is observed at one time only, but these are listed twice: {twice}")
        names = [a.name for a in self.aggregates]
        if len(set(names)) < len(names):
            raise ValueError(f"aggregates: a name is declared twice: {names}")
        return self

    @property
    def features(self) -> list[str]:
        return self.numeric_features + self.categorical_features

    @property
    def sql_path(self) -> Path:
        return _resolve(self.feature_sql)


class ValidationConfig(_Section):
    """The model's two expectation suites (GX 1.x JSON). Their files are checked when a stage uses
    them, not when the config loads, so ``pipeline suite draft`` can write a new model's first ones."""

    training_suite: Path = Field(
        description="Expectation suite (GX 1.x JSON) every training batch must pass; draft one with "
        "pipeline suite draft."
    )
    scoring_suite: Path = Field(
        description="Expectation suite (GX 1.x JSON) every scoring partition must pass; row-count bounds apply to "
        "the interval."
    )

    def suite_path(self, kind: Literal["training", "scoring"]) -> Path:
        """The suite file of ``kind``.

        Raises:
            ConfigError: the file does not exist (naming the key and how to draft one).
        """
        path = _resolve(self.training_suite if kind == "training" else self.scoring_suite)
        if not path.is_file():
            raise ConfigError(
                f"validation.{kind}_suite: file not found: {path}; draft one with "
                f"`pipeline suite draft --model NAME --kind {kind} --end DATE --out {path}`"
            )
        return path


class ModelConfig(_Section):
    name: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$", description="The model's name: set from the model file's name, not written in it."
    )
    estimator: str = Field(
        "sklearn.ensemble.HistGradientBoostingClassifier",
        description="Importable class path of a scikit-learn estimator, such as "
        "sklearn.linear_model.LogisticRegression.",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the estimator.")
    random_seed: int = Field(
        42, description="Seed of the estimator (random_state), the bootstrap and the permutation importance."
    )
    decision_threshold: float = Field(
        0.5, gt=0, lt=1, description="Classification: probability at or above which predicted_label is 1."
    )
    threads: int = Field(
        1,
        ge=1,
        description="Native threads (OpenMP, BLAS) a task may use to fit and score. Several tasks share a "
        "machine, so the default is one each: raise it on a dedicated worker.",
    )

    @field_validator("estimator")
    @classmethod
    def _dotted(cls, v: str) -> str:
        if not _DOTTED_PATH.match(v):
            raise ValueError("must be an importable class path such as sklearn.linear_model.LogisticRegression")
        return v


class TrainingConfig(_Section):
    window_days: int = Field(
        56, ge=1, description="Days of labelled data before the holdout that the model learns from."
    )
    holdout_days: int = Field(
        7,
        ge=1,
        description="The most recent days before the retrain run's cutoff, kept out of training for evaluation.",
    )
    min_labelled_share: float = Field(
        0.8,
        ge=0,
        le=1,
        description="Share of the holdout's rows whose label is known at the retrain run's cutoff below which the "
        "retrain warns (log and decision reason): its metrics then rest on the rows labelled soonest. The version's "
        "metrics record the share as holdout_labelled_share.",
    )
    pending_timeout_hours: float = Field(
        6,
        gt=0,
        description="A version still pending (artifacts being written) this long after it was reserved was left "
        "by a killed retrain: cleanup marks it failed, with the reason.",
    )


class PromotionConfig(_Section):
    """How a challenger replaces the champion (:func:`pipeline.models.promotion.decide_promotion`)."""

    metric: str | None = Field(None, description="Holdout metric of the task; None: the task's default.")
    rule: Literal["noninferiority", "improvement"] = Field(
        "noninferiority",
        description="noninferiority: promoted unless the paired bootstrap CI of the metric difference lies wholly "
        "below -tolerance, or a guardrail's below -its tolerance; improvement: the challenger must beat the "
        "champion's point estimate by min_improvement (the old rule).",
    )
    tolerance: float = Field(
        0.005, ge=0, description="noninferiority: how much worse than the champion, in the metric's units, is noise."
    )
    guardrails: dict[str, float] | None = Field(
        None,
        description="Other holdout metrics of the task -> tolerance (in their units) they may not degrade beyond; "
        "None: the task's defaults (pipeline.metrics.default_guardrails), {}: none.",
    )
    confidence: float = Field(0.95, gt=0, lt=1, description="Confidence level of the bootstrap intervals.")
    bootstrap_samples: int = Field(1000, ge=100, description="Paired bootstrap resamples of the holdout rows.")
    min_improvement: float = Field(0.0, ge=0, description="improvement rule: the gain required, in the metric's units.")
    min_baseline_gain: float = Field(
        0.0,
        ge=0,
        description="With no usable champion, the challenger must beat the constant baseline (training base rate "
        "or mean) on the holdout by more than 0 and at least this much, in the metric's units.",
    )


class PredictionsConfig(_Section):
    table: QualifiedName = Field(description="schema.table that receives this model's predictions")
    lead: dt.timedelta = Field(
        dt.timedelta(0),
        ge=dt.timedelta(0),
        description="A predict run whose data interval ends at T (its cutoff) scores the entities whose timestamp "
        "lies in [T + lead, T + lead + horizon), from data known by T (at or before it). ISO 8601 (PT1H) or HH:MM:SS.",
    )
    horizon: dt.timedelta | None = Field(
        None,
        gt=dt.timedelta(0),
        description="Width of the scored window; None: one period of schedule.predict. It must equal that period, "
        "so consecutive runs score consecutive windows with no gap or overlap.",
    )
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

    @property
    def schema_name(self) -> str:
        return self.table.split(".")[0]

    @property
    def table_name(self) -> str:
        return self.table.split(".")[1]


class ScheduleConfig(_Section):
    retrain: str = Field(
        "@weekly", description="Cron expression or preset (@daily, @weekly, @monthly...) of retrain, in timezone."
    )
    predict: str = Field(
        "@daily",
        description="Cron expression or preset of predict, in timezone. Its periods must all have one length "
        "(the cutoff rule's horizon): hourly in any zone with whole-hour offsets, daily only in UTC.",
    )
    start_date: dt.date = Field(
        dt.date(2013, 1, 1),
        description="The DAGs' start date; at 00:00 in timezone it is also the cutoff rule's origin.",
    )
    timezone: str = Field("UTC", description="IANA time zone the schedules are evaluated in.")
    catchup: bool = Field(False, description="Airflow catchup: run every missed period since start_date.")
    on_empty: Literal["skip", "fail"] = Field(
        "skip",
        description="A run whose interval has no source data (nothing to score or train on): "
        "skip: ends as skipped with a message; fail: fails with that message.",
    )

    @field_validator("retrain", "predict")
    @classmethod
    def _cron(cls, v: str) -> str:
        if not is_cron(v):
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


class TriggerConfig(_Section):
    """When the monitor asks for a retrain (:func:`pipeline.monitoring.trigger.decide_retrain`).

    Default rule (the replay of 2013, ``make study``: within 0.0013 ROC AUC of weekly retraining with under
    half of its retrains in sample; out of sample, as good as a calendar of equal cost, not better): the
    champion's realized promotion metric over the last ``performance_window_days`` (at least
    ``min_labelled_rows`` labelled predictions) is worse than its own holdout value by more than
    ``margin``, or the champion's data is older than ``max_age_days``. Drift is always measured
    and stored; it asks for a retrain only where switched on here."""

    performance_window_days: int = Field(
        7, ge=1, description="Days of labelled champion predictions the realized metric pools."
    )
    min_labelled_rows: int = Field(
        500, ge=1, description="Fewer labelled predictions in that window: no performance trigger (too noisy)."
    )
    margin: float = Field(
        0.02,
        ge=0,
        description="Retrain when the realized metric is worse than the champion's holdout value by more than "
        "this, in the metric's units (ROC AUC for the classifier, RMSE in label units for a regression).",
    )
    max_age_days: int | None = Field(
        28, gt=0, description="Retrain when the champion's holdout ended more than this many days ago; None: never."
    )
    feature_drift: bool = Field(False, description="Feature drift (trigger_feature_share) asks for a retrain.")
    prediction_drift: bool = Field(False, description="Prediction drift (trigger_prediction_psi) asks for a retrain.")


class MonitoringConfig(_Section):
    """Drift and realized-performance monitoring, and when it asks for a retrain."""

    schedule: str = Field("@daily", description="Cron expression or preset of the monitor DAG, in schedule.timezone.")
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
    trigger: TriggerConfig = Field(TriggerConfig(), description="When the monitor asks for a retrain.")
    trigger_feature_share: float = Field(
        0.5, gt=0, le=1, description="Feature drift: this share of the voting features drift (trigger.feature_drift)."
    )
    trigger_prediction_psi: float = Field(
        0.25,
        gt=0,
        description="Retrain when the score PSI exceeds this and the score drifted by PSI (its sample-size aware "
        "threshold): a floor on the score's PSI threshold.",
    )
    cooldown_days: int = Field(7, ge=0, description="At most one requested retrain per this many days.")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        return ScheduleConfig._cron(v)


class _Settings(BaseSettings):
    """pydantic-settings sources, highest first: keyword arguments, environment, the YAML file."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="forbid", frozen=True)

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


class SharedConfig(_Settings):
    """The shared file: where the warehouse and the artifact store are, and where the model files live."""

    warehouse: WarehouseConfig = Field(WarehouseConfig(), description="The PostgreSQL warehouse.")
    artifacts: ArtifactsConfig = Field(
        ArtifactsConfig(), description="The artifact store (S3, S3-compatible or a local folder) and its credentials."
    )
    retention: RetentionConfig = Field(
        RetentionConfig(), description="How long run leftovers are kept before cleanup removes them."
    )
    airflow: AirflowConfig = Field(
        AirflowConfig(), description="The DAGs only: Airflow Connections to read credentials from."
    )
    alerts: AlertsConfig = Field(AlertsConfig(), description="Where the DAGs send alerts.")
    models_dir: Path = Field(Path("config/models"), description="Folder of the model files, <name>.yaml each.")

    @property
    def models_path(self) -> Path:
        return _resolve(self.models_dir)


class _ModelSections(BaseModel):
    """The sections of a model file, and the checks across them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: Task = Field("binary_classification", description="What the model predicts: its metrics and outputs.")
    dataset: DatasetConfig = Field(description="The feature query and its columns.")
    validation: ValidationConfig = Field(description="The model's two expectation suites.")
    model: ModelConfig = Field(description="The estimator and its parameters.")
    training: TrainingConfig = Field(TrainingConfig(), description="The training window and holdout.")
    promotion: PromotionConfig = Field(PromotionConfig(), description="How a challenger replaces the champion.")
    predictions: PredictionsConfig = Field(
        description="Where and when predictions are written: table, lead, shadow versions, partitions."
    )
    schedule: ScheduleConfig = Field(ScheduleConfig(), description="The retrain and predict schedules.")
    monitoring: MonitoringConfig = Field(
        MonitoringConfig(), description="Drift and realized-performance monitoring, and when it asks for a retrain."
    )

    @model_validator(mode="after")
    def _consistent(self) -> _ModelSections:
        unknown = set(self.monitoring.features or []) - set(self.dataset.features)
        if unknown:
            raise ValueError(f"monitoring.features lists columns that are not features: {sorted(unknown)}")
        period = predict_grid(self.schedule.predict, self.schedule.start_date, self.schedule.timezone)[1]
        horizon = self.predictions.horizon
        if isinstance(period, str):
            raise ValueError(f"schedule.predict: {period}")
        if horizon is not None and horizon != period:
            raise ValueError(
                f"predictions.horizon {horizon} differs from one period of schedule.predict "
                f"{self.schedule.predict!r} ({period}): consecutive runs would leave gaps or overlap"
            )
        metric = self.promotion.metric
        if metric is not None and not is_metric_for(self.task, metric):
            raise ValueError(
                f"promotion.metric {metric!r} is not a {self.task} metric; "
                f"choose one of {list(holdout_metric_names(self.task))}"
            )
        guardrails = self.promotion.guardrails or {}
        unknown = [name for name in guardrails if not is_metric_for(self.task, name)]
        if unknown:
            raise ValueError(
                f"promotion.guardrails names {unknown}, not {self.task} metrics; "
                f"choose among {list(holdout_metric_names(self.task))}"
            )
        primary = metric or default_promotion_metric(self.task)
        if primary in guardrails:
            raise ValueError(
                f"promotion.guardrails names the promotion metric {primary!r}; its tolerance is promotion.tolerance"
            )
        negative = {name: tol for name, tol in guardrails.items() if tol < 0}
        if negative:
            raise ValueError(f"promotion.guardrails tolerances must be >= 0, got {negative}")
        return self


class ModelFile(_Settings, _ModelSections):
    """One model's file, read with its environment overrides and validated on its own."""


class PipelineConfig(_ModelSections):
    """One model's whole configuration: its file's sections plus the shared ``warehouse`` and
    ``artifacts``. Build it with :func:`load_config`; ``model.name`` is the file's name."""

    warehouse: WarehouseConfig = Field(WarehouseConfig(), description="The shared file's warehouse section.")
    artifacts: ArtifactsConfig = Field(ArtifactsConfig(), description="The shared file's artifacts section.")
    retention: RetentionConfig = Field(RetentionConfig(), description="The shared file's retention section.")
    source: Path | None = Field(None, description="The model file this config was read from.")

    @property
    def cutoff_rule(self) -> CutoffRule:
        """The model's :class:`~pipeline.schedule.CutoffRule`: ``predictions.lead``, one period of
        ``schedule.predict``, and its first tick at or after ``schedule.start_date`` 00:00 in
        ``schedule.timezone`` as origin."""
        sc = self.schedule
        origin, period = predict_grid(sc.predict, sc.start_date, sc.timezone)
        return CutoffRule(self.predictions.lead, period, origin)

    @property
    def served_features_days(self) -> float:
        """Days a predict run's feature batch is kept (``retention.served_features_days``), raised to the
        longest monitoring window that reads it (``monitoring.window_days``,
        ``monitoring.trigger.performance_window_days``)."""
        monitoring = self.monitoring
        windows = (monitoring.window_days, monitoring.trigger.performance_window_days)
        return max(self.retention.served_features_days, *windows)

    @property
    def promotion_metric(self) -> str:
        """``promotion.metric``, or the task's default (ROC AUC for classification, RMSE for regression)."""
        return self.promotion.metric or default_promotion_metric(self.task)

    def dag_id(self, kind: str) -> str:
        """The id of the model's DAG of ``kind`` (``retrain``, ``predict``, ``monitor``): ``<kind>__<model>``,
        for example ``retrain__flight_delay``; CLI runs record the same id."""
        return f"{kind}__{self.model.name}"

    @property
    def retrain_request_asset(self) -> str:
        """Name of the Airflow Asset through which ``monitor`` asks ``retrain`` for a new model."""
        return f"{self.model.name}.retrain_request"

    @property
    def voting_features(self) -> list[str]:
        """The features whose drift counts toward the retrain trigger: ``monitoring.features``, or every
        feature of the dataset when unset."""
        return self.monitoring.features or self.dataset.features


_SHARED_SECTIONS = ("warehouse", "artifacts", "retention", "airflow", "alerts", "models_dir")
NON_CONFIG_ENV = frozenset({"PIPELINE_CONFIG"})
"""The ``PIPELINE_*`` environment variables that are not config overrides. Every other ``PIPELINE_*``
variable must name a setting, or loading fails (:func:`check_environment`): add a new switch here."""


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors())


def _field_problem(sections: type[BaseModel], parts: list[str], form: str) -> str | None:
    """Why ``parts`` (``[section, key, ...]``, lowercase) names no setting of ``sections``, or None.
    Levels below the key (a dict's entries, ``MODEL__PARAMS__MAX_ITER``) are left to validation."""
    section, *rest = parts
    fields = sections.model_fields
    if section not in fields:
        return f"no section {section!r} (valid: {', '.join(fields)}; form {form})"
    inner = fields[section].annotation
    if rest and isinstance(inner, type) and issubclass(inner, BaseModel) and rest[0] not in inner.model_fields:
        return f"section {section} has no key {rest[0]!r} (valid: {', '.join(inner.model_fields)})"
    return None


def _env_problem(parts: list[str], models: list[str] | None) -> str | None:
    """Why the override ``PIPELINE_<parts joined by __>`` names no setting, or None. ``models`` None:
    model overrides are not checked yet (the shared file, which lists the models, is not read yet)."""
    head = parts[0]
    if head in SharedConfig.model_fields:
        return _field_problem(SharedConfig, parts, "PIPELINE_<SECTION>__<KEY>")
    if models is None:
        return None
    if head in models:
        if len(parts) < 2:
            return "a model override needs a section: PIPELINE_<NAME>__<SECTION>__<KEY>"
        return _field_problem(_ModelSections, parts[1:], "PIPELINE_<NAME>__<SECTION>__<KEY>")
    hint = (
        f"; {head} is a model section, overridden per model as PIPELINE_<NAME>__<SECTION>__<KEY> "
        f"(PIPELINE_<NAME>__{head.upper()}__<KEY>, <NAME> a configured model)"
        if head in _ModelSections.model_fields
        else ""
    )
    return (
        f"{head!r} is neither a shared section ({', '.join(_SHARED_SECTIONS)}) nor a configured model "
        f"({', '.join(models) or 'none'}){hint}"
    )


def check_environment(models: list[str] | None = None) -> None:
    """Refuse ``PIPELINE_*`` environment variables that name no setting, as unknown keys in a file are.

    pydantic-settings reads only the variables of the sections it knows and ignores the rest, so a
    misspelt ``PIPELINE_TRAINNG__WINDOW_DAYS`` would silently run with the default. Each variable
    (names are case-insensitive, as pydantic-settings reads them) must be in :data:`NON_CONFIG_ENV`,
    or be ``PIPELINE_<SECTION>[__<KEY>...]`` of the shared file, or ``PIPELINE_<NAME>__<SECTION>
    [__<KEY>...]`` of a model in ``models`` (checked only when ``models`` is given).

    Raises:
        ConfigError: naming every unknown variable with the valid sections, keys or models.
    """
    problems = []
    for var in sorted(os.environ):
        name = var.upper()
        if not name.startswith(ENV_PREFIX) or name in NON_CONFIG_ENV:
            continue
        problem = _env_problem(name.removeprefix(ENV_PREFIX).lower().split("__"), models)
        if problem:
            problems.append(f"{var}: {problem}")
    if problems:
        raise ConfigError(
            f"unknown environment override(s): {'; '.join(problems)}. "
            f"Other PIPELINE_ variables allowed: {', '.join(sorted(NON_CONFIG_ENV))}"
        )


def _build(settings: type[_Settings], yaml_file: Path, env_prefix: str, what: str, **overrides: Any):
    if not yaml_file.is_file():
        raise ConfigError(f"{what} not found: {yaml_file}")
    bound = type(
        settings.__name__,
        (settings,),
        {"model_config": {**settings.model_config, "yaml_file": yaml_file, "env_prefix": env_prefix}},
    )
    try:
        return bound(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"invalid {what} ({yaml_file}): {_problems(exc)}") from None
    except Exception as exc:  # YAML syntax errors and unreadable files
        raise ConfigError(f"cannot read {what} {yaml_file}: {exc}") from exc


def load_shared(path: str | Path | None = None, **overrides: Any) -> SharedConfig:
    """Read and validate the shared file (``path``, ``$PIPELINE_CONFIG`` or ``config/pipeline.yaml``),
    and check every ``PIPELINE_*`` environment variable names a setting (:func:`check_environment`).

    Raises:
        ConfigError: the file is missing or not YAML, a key is unknown or invalid (named), or an
            environment variable names an unknown section, key or model.
    """
    yaml_file = Path(path) if path else Path(os.environ.get("PIPELINE_CONFIG", DEFAULT_CONFIG))
    check_environment()
    shared = _build(SharedConfig, yaml_file, ENV_PREFIX, "pipeline config", **overrides)
    folder = shared.models_path
    check_environment(sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else [])
    return shared


def model_files(shared: SharedConfig) -> dict[str, Path]:
    """The model files in ``shared.models_dir``: model name (the file's stem) -> path, sorted by name.

    Raises:
        ConfigError: the folder is missing or holds no model file.
    """
    folder = shared.models_path
    files = {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}
    if not files:
        raise ConfigError(f"no model files (<name>.yaml) in models_dir {folder}")
    return files


def load_config(name: str, /, path: str | Path | None = None, **overrides: Any) -> PipelineConfig:
    """Read, merge and validate one model's configuration.

    Args:
        name: the model's name: its file is ``<models_dir>/<name>.yaml``.
        path: the shared file; default ``$PIPELINE_CONFIG`` or ``config/pipeline.yaml``.
        **overrides: sections as dicts, highest precedence (tests and the CLI); ``warehouse`` and
            ``artifacts`` go to the shared file's settings, the rest to the model's.

    Returns:
        The frozen :class:`PipelineConfig`.

    Raises:
        ConfigError: a file is missing or not YAML, the name is not a valid model name, or a key is
            unknown or invalid. The message names the file and each failing key as ``section.key: reason``.
    """
    shared = load_shared(path, **{k: v for k, v in overrides.items() if k in _SHARED_SECTIONS})
    if not _MODEL_NAME.match(name) or name in _RESERVED_NAMES:
        raise ConfigError(
            f"bad model name {name!r}: model files are named <name>.yaml with a lowercase name of letters, digits "
            f"and underscores, starting with a letter, other than {sorted(_RESERVED_NAMES)}"
        )
    yaml_file = shared.models_path / f"{name}.yaml"
    model_overrides = {k: v for k, v in overrides.items() if k not in _SHARED_SECTIONS}
    model_overrides["model"] = {**model_overrides.get("model", {}), "name": name}
    spec = _build(ModelFile, yaml_file, f"{ENV_PREFIX}{name.upper()}__", "model config", **model_overrides)
    shared_sections = {"warehouse": shared.warehouse, "artifacts": shared.artifacts, "retention": shared.retention}
    return PipelineConfig(**shared_sections, source=yaml_file, **dict(spec))


def load_models(path: str | Path | None = None) -> tuple[dict[str, PipelineConfig], dict[str, ConfigError]]:
    """Every model in the shared file's ``models_dir``, each validated on its own.

    Returns:
        ``(configs, errors)``: model name -> config for the valid files, and model name -> the
        :class:`ConfigError` of each invalid one. A bad model file breaks only that model.

    Raises:
        ConfigError: the shared file is invalid, or there is no model file at all.
    """
    configs, errors = {}, {}
    for name in model_files(load_shared(path)):
        try:
            configs[name] = load_config(name, path)
        except ConfigError as exc:
            errors[name] = exc
    tables: dict[str, str] = {}
    for name, cfg in list(configs.items()):
        other = tables.setdefault(cfg.predictions.table, name)
        if other != name:  # two models writing one table would replace each other's intervals' rows
            errors[name] = ConfigError(
                f"invalid model config ({cfg.source}): predictions.table: {cfg.predictions.table} is also "
                f"model {other}'s predictions table"
            )
            del configs[name]
    return configs, errors


def with_window_days(cfg: PipelineConfig, window_days: int | None) -> PipelineConfig:
    """``cfg`` with ``training.window_days`` replaced (a manual run's override), re-validated.

    Raises:
        ConfigError: ``window_days`` is below 1 (naming ``training.window_days``).
    """
    if window_days is None or window_days == cfg.training.window_days:
        return cfg
    return _with_section(cfg, "training", window_days=window_days)


def with_model_params(cfg: PipelineConfig, **params: Any) -> PipelineConfig:
    """``cfg`` with ``model.params`` updated by ``params`` (a manual run's override), re-validated.

    Raises:
        ConfigError: the model section no longer validates (naming each bad key).
    """
    if not params:
        return cfg
    return _with_section(cfg, "model", params={**cfg.model.params, **params})


def _with_section(cfg: PipelineConfig, name: str, **changes: Any) -> PipelineConfig:
    section = getattr(cfg, name)
    try:
        return cfg.model_copy(update={name: type(section).model_validate({**section.model_dump(), **changes})})
    except ValidationError as exc:
        problems = "; ".join(f"{name}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid override: {problems}") from None
