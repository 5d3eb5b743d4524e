"""Load and validate the one YAML configuration file into a typed Settings object."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "customer_health.yml"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"


class ConfigError(ValueError):
    """The configuration file is missing or breaks a rule; the message says which and where."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PathsConfig(_Strict):
    home: str = "state/default"
    landing: str = "state/default/landing"
    warehouse: str | None = None
    # How long a step waits for another run of the same dataset before giving up.
    lock_wait_seconds: float = Field(1800, ge=0)


# A share of the machine's memory ("40%") or a size ("6GB"), as DuckDB's memory_limit takes it.
MEMORY_SIZE = r"(?i)^\s*\d+(\.\d+)?\s*(%|[kmgt]i?b)\s*$"
DEFAULT_MEMORY_LIMIT = "40%"
# config warehouse.memory_limit, carried by the environment to every warehouse connection
# (warehouse.memory_limit) and to dbt's profile
MEMORY_LIMIT_VARIABLE = "CUSTOMER_HEALTH_DUCKDB_MEMORY_LIMIT"


class WarehouseConfig(_Strict):
    # DuckDB's memory for the warehouse (pipeline connections and dbt): a share of the machine's
    # memory ("40%") or a size ("6GB"); past it DuckDB spills to disk (<warehouse>.tmp) instead
    # of growing until the machine runs out.
    memory_limit: str = Field(DEFAULT_MEMORY_LIMIT, pattern=MEMORY_SIZE)
    # DuckDB's share while ingesting: the parsed file and its validation gate are held beside
    # it in Python, so it is kept smaller (its cache of the raw tables is what it gives up).
    ingest_memory_limit: str = Field("15%", pattern=MEMORY_SIZE)


class ChurnConfig(_Strict):
    horizon_days: int = Field(90, ge=7, le=730)
    spine_interval_months: int = Field(1, ge=1, le=12)


class FeaturesConfig(_Strict):
    event_lookback_days: int = Field(3, ge=0, le=365, strict=True)
    activity_half_life_days: float = Field(30, gt=0, le=3650)
    peer_group: Literal["segment", "plan", "region"] = "segment"


class SegmentBands(_Strict):
    """One segment's thresholds; a threshold left out is the default one."""

    healthy: float | None = Field(None, ge=0, le=100)
    watch: float | None = Field(None, ge=0, le=100)
    at_risk: float | None = Field(None, ge=0, le=100)


class BandsConfig(_Strict):
    healthy: float = Field(80, ge=0, le=100)
    watch: float = Field(60, ge=0, le=100)
    at_risk: float = Field(40, ge=0, le=100)
    # Thresholds of their own for some segments (matched without regard to case).
    by_segment: dict[str, SegmentBands] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ordered(self) -> "BandsConfig":
        if not self.healthy > self.watch > self.at_risk:
            raise ValueError("band thresholds must satisfy healthy > watch > at_risk")
        seen: dict[str, str] = {}
        for segment in self.by_segment:
            if not segment.strip():
                raise ValueError("by_segment: a segment name is empty")
            if segment.lower() in seen:
                raise ValueError(f"by_segment: {seen[segment.lower()]!r} and {segment!r} are the "
                                 "same segment (segments match without regard to case)")
            seen[segment.lower()] = segment
            t = self.segment_thresholds(segment)
            if not t["healthy"] > t["watch"] > t["at_risk"]:
                raise ValueError(
                    f"by_segment.{segment}: band thresholds must satisfy healthy > watch > at_risk "
                    f"(with the defaults for those not given: healthy {t['healthy']:g}, "
                    f"watch {t['watch']:g}, at_risk {t['at_risk']:g})")
        return self

    def segment_thresholds(self, segment: str) -> dict[str, float]:
        """The segment's thresholds, the defaults filling those it does not give."""
        given = self.by_segment[segment]
        return {band: getattr(self, band) if getattr(given, band) is None else getattr(given, band)
                for band in ("healthy", "watch", "at_risk")}


class TrendConfig(_Strict):
    stable_points: float = Field(3, ge=0, le=100)


Band = Literal["healthy", "watch", "at_risk", "critical"]


class ModelParams(_Strict):
    """The LightGBM settings a user may tune; a misspelt key is an error, not silently ignored."""

    num_leaves: int | None = Field(None, ge=2, le=1024, strict=True)
    max_depth: int | None = Field(None, ge=-1, le=64, strict=True)
    learning_rate: float | None = Field(None, gt=0, le=1)
    num_boost_round: int | None = Field(None, ge=1, le=10000, strict=True)
    early_stopping_rounds: int | None = Field(None, ge=1, le=1000, strict=True)
    min_data_in_leaf: int | None = Field(None, ge=1, strict=True)
    feature_fraction: float | None = Field(None, gt=0, le=1)
    bagging_fraction: float | None = Field(None, gt=0, le=1)
    bagging_freq: int | None = Field(None, ge=0, strict=True)
    lambda_l1: float | None = Field(None, ge=0)
    lambda_l2: float | None = Field(None, ge=0)
    min_gain_to_split: float | None = Field(None, ge=0)
    calibration: Literal["auto", "isotonic", "sigmoid"] | None = None

    def given(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ModelConfig(_Strict):
    seed: int = Field(42, strict=True)
    num_threads: int = Field(2, ge=1, le=256, strict=True)
    min_labelled_rows: int = Field(500, ge=1, strict=True)
    min_positives: int = Field(50, ge=1, strict=True)
    min_cutoffs: int = Field(3, ge=2, strict=True)
    # Rolling backtest on the last N labelled as-of dates (0 turns it off), and how much lower its
    # mean ROC AUC may be than the live model's before a new model is refused.
    backtest_folds: int = Field(4, ge=0, le=24, strict=True)
    promotion_tolerance: float = Field(0.01, ge=0, le=1)
    # When a new model is trained: "scheduled" scores new data at once with the live model and
    # leaves training to the retrain DAG or `customer-health train`; "every_run" trains whenever
    # the data changed. Either way a dataset without a live model trains one.
    retrain: Literal["scheduled", "every_run"] = "scheduled"
    params: ModelParams = Field(default_factory=ModelParams)


class BatchReadyQueue(_Strict):
    """Where upstream systems announce "batch ready" (Airflow's MessageQueueTrigger)."""

    # Kafka, SQS and others work the same way through their provider's scheme (not installed).
    scheme: Literal["redis+pubsub"] = "redis+pubsub"
    channels: list[str] = Field(default_factory=lambda: ["customer_health.batch_ready"],
                                min_length=1)
    # Airflow connection of the queue (AIRFLOW_CONN_<ID> or `airflow connections add`)
    conn_id: str = Field("customer_health_redis", min_length=1)
    poll_seconds: float = Field(1, gt=0, le=3600)


class OrchestrationConfig(_Strict):
    """How the Airflow DAGs start: triggers on new data, the safety net and the retrain DAG."""

    # The landing-folder watcher (an AssetWatcher in Airflow's triggerer) looks this often, and a
    # file counts as arrived once its size and time stayed the same for settle_seconds (a copy
    # still being written is not picked up).
    landing_poll_seconds: float = Field(5, gt=0, le=3600)
    settle_seconds: float = Field(2, ge=0, le=3600)
    batch_ready_queue: BatchReadyQueue | None = None
    # Cron (UTC) of the ingest run that catches any delivery a trigger missed.
    safety_net_cron: str = "0 * * * *"
    # Cron (UTC) of the weekly retrain; a drift warning also starts it, at most once per cooldown.
    retrain_cron: str = "0 3 * * 1"
    retrain_on_drift: bool = True
    retrain_cooldown_hours: float = Field(24, ge=0, le=24 * 365)

    @field_validator("safety_net_cron", "retrain_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression (minute hour day month weekday)")
        return value


class PostgresExportConfig(_Strict):
    """A copy of the output tables in PostgreSQL for BI tools that need a server."""

    # Name of the environment variable holding the connection string (never the secret itself).
    dsn_env: str = Field("CUSTOMER_HEALTH_EXPORT_PG_DSN", min_length=1)
    schema_name: str = Field("customer_health", min_length=1, alias="schema",
                             pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    tables: list[Literal["customer_health", "customer_health_history", "at_risk_customers",
                         "health_alerts"]] = Field(
        default_factory=lambda: ["customer_health", "customer_health_history",
                                 "at_risk_customers", "health_alerts"], min_length=1)


class ExportsConfig(_Strict):
    # null: off. Written after every publish, each table swapped in one transaction.
    postgres: PostgresExportConfig | None = None


class ServeConfig(_Strict):
    """`customer-health serve`: the web app and REST API retention teams and CRMs use."""

    host: str = "127.0.0.1"
    port: int = Field(8765, ge=1, le=65535, strict=True)
    # Every page and endpoint needs this token. It comes from the environment variable named
    # here (never from this file); without it `serve` refuses to start.
    token_env: str = Field("CUSTOMER_HEALTH_TOKEN", min_length=1)
    page_size: int = Field(50, ge=1, le=1000, strict=True)
    max_page_size: int = Field(500, ge=1, le=10000, strict=True)


class WebhookDelivery(_Strict):
    """Slack-compatible incoming webhook; its URL (a secret) comes from the environment."""

    url_env: str = Field("CUSTOMER_HEALTH_ALERT_WEBHOOK_URL", min_length=1)
    timeout_seconds: float = Field(10, gt=0, le=300)


class EmailDelivery(_Strict):
    """Alerts by email over SMTP; user and password (if any) come from the environment."""

    smtp_host: str = Field(min_length=1)
    smtp_port: int = Field(587, ge=1, le=65535, strict=True)
    starttls: bool = True
    sender: str = Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")
    recipients: list[str] = Field(min_length=1)
    username_env: str | None = "CUSTOMER_HEALTH_SMTP_USER"
    password_env: str | None = "CUSTOMER_HEALTH_SMTP_PASSWORD"
    timeout_seconds: float = Field(30, gt=0, le=300)


class AlertDeliveryConfig(_Strict):
    """Where new health_alerts rows go after each publish; each alert is sent once per channel."""

    webhook: WebhookDelivery | None = None
    email: EmailDelivery | None = None


ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class PrivacyConfig(_Strict):
    """What personal data (the customers' email) the published tables and their exports carry.

    none: no email and nothing derived from it downstream of the raw layer (the columns are
    there, empty, so every table keeps one layout). hashed: ``email_hash``, an HMAC-SHA256 of the
    normalised email keyed with the secret in ``hash_key_env`` (a plain SHA-256 when that variable
    is unset), for CRMs to join on. plain: the hash and the email itself. Free text never leaves
    the raw layer, whatever the mode.
    """

    export_personal_data: Literal["none", "hashed", "plain"] = "none"
    # Name of the environment variable holding the hash key (never the key itself).
    hash_key_env: str | None = "CUSTOMER_HEALTH_PII_KEY"

    @field_validator("export_personal_data", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            # YAML reads a bare null, no or false as these, not as the word none
            raise ValueError(f"write one of none, hashed or plain (quoted if need be), not "
                             f"{value!r}")
        return value

    @field_validator("hash_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(ENV_NAME, value):
            raise ValueError("names the environment variable that holds the key (letters, digits "
                             "and _, e.g. CUSTOMER_HEALTH_PII_KEY), never the key itself")
        return value


class DriftConfig(_Strict):
    # population stability index above which status warns that the model needs retraining
    psi_warning: float = Field(0.2, gt=0, le=10)
    features: int = Field(10, ge=1, le=200, strict=True)


@functools.lru_cache(maxsize=1)
def _catalogue():
    from ml.catalogue import load_catalogue

    return load_catalogue()


class ScorecardMeasure(_Strict):
    """One scorecard line: ``weight`` points at the ``good`` value, 0 at ``bad``, linear between."""

    feature: str
    weight: float = Field(gt=0, le=1000)
    good: float
    bad: float

    @field_validator("feature")
    @classmethod
    def _in_catalogue(cls, name: str) -> str:
        catalogue = _catalogue()
        if name not in catalogue:
            raise ValueError(f"{name!r} is not a feature of the catalogue (ml/features.yml)")
        if catalogue[name].is_categorical:
            raise ValueError(f"{name!r} is a category; a scorecard measure needs a numeric feature")
        return name

    @model_validator(mode="after")
    def _distinct(self) -> "ScorecardMeasure":
        if self.good == self.bad:
            raise ValueError(f"good and bad of {self.feature!r} must differ")
        return self


def _default_measures() -> list[ScorecardMeasure]:
    from ml.scorecard import DEFAULT_MEASURES

    return [ScorecardMeasure(feature=m.feature, weight=m.weight, good=m.good, bad=m.bad)
            for m in DEFAULT_MEASURES]


class ScorecardConfig(_Strict):
    """The rule-based scorecard (``ml.scorecard``): the baseline on every model card and the
    scores of a dataset with too little history to train a model."""

    missing: Literal["half", "exclude"] = "half"
    measures: list[ScorecardMeasure] = Field(default_factory=_default_measures, min_length=1)

    @model_validator(mode="after")
    def _once_each(self) -> "ScorecardConfig":
        names = [m.feature for m in self.measures]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"measures repeat feature(s) {', '.join(repeated)}")
        return self

    def definition(self) -> dict[str, Any]:
        """The plain definition ``ml.scorecard.Scorecard.from_config`` and ``ml.train`` take."""
        return self.model_dump()


class DropRule(_Strict):
    points: int = Field(15, ge=1, le=100, strict=True)
    days: int = Field(30, ge=1, le=3650, strict=True)


class AlertsConfig(_Strict):
    """Rules of the health_alerts table; an empty list or null switches a rule off."""

    # Entering one of these bands from a healthier one (or first scored in it).
    entered_band: list[Literal["watch", "at_risk", "critical"]] = Field(
        default_factory=lambda: ["at_risk", "critical"])
    # The health score fell at least `points` below its highest of the `days` before.
    drop: DropRule | None = Field(default_factory=DropRule)
    # Critical on this many scoring dates in a row.
    critical_runs: int | None = Field(3, ge=1, le=100, strict=True)


class AtRiskConfig(_Strict):
    bands: list[Band] = Field(default_factory=lambda: ["critical", "at_risk"], min_length=1)
    top: int = Field(20, ge=1, strict=True)


class FileConfig(_Strict):
    paths: PathsConfig = Field(default_factory=PathsConfig)
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig)
    churn: ChurnConfig = Field(default_factory=ChurnConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    bands: BandsConfig = Field(default_factory=BandsConfig)
    trend: TrendConfig = Field(default_factory=TrendConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    playbook: dict[str, str] = Field(default_factory=dict)
    at_risk: AtRiskConfig = Field(default_factory=AtRiskConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    scorecard: ScorecardConfig = Field(default_factory=ScorecardConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    orchestration: OrchestrationConfig = Field(default_factory=OrchestrationConfig)
    exports: ExportsConfig = Field(default_factory=ExportsConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    alert_delivery: AlertDeliveryConfig = Field(default_factory=AlertDeliveryConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)

    @field_validator("playbook")
    @classmethod
    def _playbook_keys_are_known(cls, playbook: dict[str, str]) -> dict[str, str]:
        from ml.catalogue import DIMENSIONS, load_catalogue

        features = load_catalogue().names()
        unknown = [k for k in playbook if k not in {*features, *DIMENSIONS, "default"}]
        if unknown:
            raise ValueError(
                f"unknown key(s) {', '.join(repr(k) for k in unknown)}: a playbook key is a "
                f"feature of the catalogue (ml/features.yml, e.g. open_tickets), a dimension "
                f"({', '.join(DIMENSIONS)}) or default")
        return playbook

    @model_validator(mode="after")
    def _playbook_has_default(self) -> "FileConfig":
        if "default" not in self.playbook:
            self.playbook["default"] = "Review the account with the account owner."
        return self


@dataclass(frozen=True)
class Settings:
    """Resolved configuration: absolute paths for one dataset plus the validated options."""

    config_file: Path
    home: Path
    landing: Path
    warehouse: Path
    options: FileConfig

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def dbt_target_dir(self) -> Path:
        return self.home / "dbt" / "target"

    @property
    def dbt_log_dir(self) -> Path:
        return self.home / "dbt" / "logs"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    @property
    def serving_file(self) -> Path:
        """The read-only copy of the output tables that the web app and BI tools open."""
        return self.home / "serving" / "customer_health.duckdb"

    @property
    def app_db(self) -> Path:
        """SQLite file of what people write: overrides with their audit trail, alert deliveries."""
        return self.home / "app.sqlite"


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def _explain(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: {len(exc.errors())} problem(s) in the configuration"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  - {where}: {err['msg']}")
    return "\n".join(lines)


def parse_config(path: Path) -> FileConfig:
    """Read and validate a YAML configuration file; raise ConfigError naming every problem."""
    try:
        return FileConfig.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise ConfigError(_explain(path, exc)) from None


def _resolve(base: Path, value: str | os.PathLike) -> Path:
    p = Path(value).expanduser()
    return (p if p.is_absolute() else base / p).resolve()


def load_settings(
    config: str | os.PathLike | None = None,
    *,
    home: str | os.PathLike | None = None,
    landing: str | os.PathLike | None = None,
    warehouse: str | os.PathLike | None = None,
) -> Settings:
    """Load the configuration; flags beat environment variables, which beat the file.

    Everything of one dataset follows the home folder. Passing only ``warehouse`` makes its
    folder the home, so models trained on one dataset are never used on another.
    """
    config_file = Path(config or os.environ.get("CUSTOMER_HEALTH_CONFIG") or DEFAULT_CONFIG)
    config_file = config_file.expanduser().resolve()
    options = parse_config(config_file)
    # read by every warehouse connection and by dbt's profile (warehouse.MEMORY_LIMIT_VARIABLE)
    os.environ[MEMORY_LIMIT_VARIABLE] = options.warehouse.memory_limit.strip()
    base = config_file.parent
    cwd = Path.cwd()

    home = home or os.environ.get("CUSTOMER_HEALTH_HOME")
    warehouse = warehouse or os.environ.get("CUSTOMER_HEALTH_WAREHOUSE")
    landing = landing or os.environ.get("CUSTOMER_HEALTH_LANDING")

    if warehouse is not None:
        warehouse_path = _resolve(cwd, warehouse)
        home_path = _resolve(cwd, home) if home else warehouse_path.parent
    else:
        home_path = _resolve(cwd, home) if home else _resolve(base, options.paths.home)
        if options.paths.warehouse and not home:
            warehouse_path = _resolve(base, options.paths.warehouse)
        else:
            warehouse_path = home_path / "warehouse.duckdb"
    if landing is not None:
        landing_path = _resolve(cwd, landing)
    elif home or warehouse:
        landing_path = home_path / "landing"
    else:
        landing_path = _resolve(base, options.paths.landing)
    return Settings(config_file, home_path, landing_path, warehouse_path, options)
