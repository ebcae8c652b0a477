"""Runtime settings: one pydantic-settings object, read from `DRIFTLOOP_*` env vars and `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.errors import SettingsError

ENV_PREFIX = "DRIFTLOOP_"
ENV_NESTED_DELIMITER = "__"

MetricName = Literal["roc_auc", "accuracy", "f1", "log_loss", "rmse", "mae", "r2"]


class PathSettings(BaseModel):
    """Where driftloop reads and writes files; relative paths resolve against the working dir."""

    spec: Path = Path("data/rainfall.yaml")
    reports: Path = Path("reports")
    quarantine: Path = Path("data/quarantine")
    ledger: Path = Path("data/ledger.jsonl")
    gx_root: Path = Path("great_expectations")


class MlflowSettings(BaseModel):
    """Tracking server and registry; SQLite and a local artifact folder by default."""

    tracking_uri: str = "sqlite:///mlflow.db"
    artifact_root: Path = Path("mlartifacts")
    training_experiment: str = "driftloop-training"
    monitoring_experiment: str = "driftloop-monitoring"


class DriftSettings(BaseModel):
    """How drift is measured (methods pinned so results do not change with batch size)."""

    numeric_method: str = "wasserstein"
    categorical_method: str = "jensenshannon"
    column_threshold: float = Field(0.1, gt=0, description="per-column drift score threshold")
    share_threshold: float = Field(0.5, gt=0, le=1, description="drifted share that retrains")
    metric_drop_threshold: float = Field(
        0.05, ge=0, description="realized metric drop that retrains"
    )


class TrainingSettings(BaseModel):
    """XGBoost parameters and the time-ordered holdout."""

    holdout_fraction: float = Field(0.2, gt=0, lt=1)
    n_estimators: int = Field(300, gt=0)
    max_depth: int = Field(6, gt=0)
    learning_rate: float = Field(0.05, gt=0, le=1)
    early_stopping_rounds: int = Field(30, gt=0)
    seed: int = 42
    n_jobs: int = Field(0, ge=0, description="0 means all cores")


class PromotionSettings(BaseModel):
    """The promotion rule and the registry alias names (they live here and nowhere else)."""

    metric: MetricName | None = Field(None, description="None picks roc_auc or rmse by task")
    min_improvement: float = Field(0.005, ge=0)
    floor: float | None = Field(
        None, description="absolute floor on the metric; None: task default"
    )
    production_alias: str = "production"
    previous_alias: str = "previous"
    challenger_alias: str = "challenger"


class GitHubSettings(BaseModel):
    """The CD hand-off: a `repository_dispatch` to GitHub Actions; off without a token."""

    token: SecretStr | None = None
    repo: str = "driftloop/driftloop"
    event_type: str = "model-promoted"
    api_url: str = "https://api.github.com"
    timeout_seconds: float = Field(10.0, gt=0)

    @field_validator("repo")
    @classmethod
    def _repo_is_owner_slash_name(cls, value: str) -> str:
        owner, _, name = value.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError("must look like OWNER/NAME, e.g. acme/fraud-model")
        return value


class Settings(BaseSettings):
    """All driftloop settings; env vars look like `DRIFTLOOP_DRIFT__SHARE_THRESHOLD=0.3`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    paths: PathSettings = PathSettings()
    mlflow: MlflowSettings = MlflowSettings()
    drift: DriftSettings = DriftSettings()
    training: TrainingSettings = TrainingSettings()
    promotion: PromotionSettings = PromotionSettings()
    github: GitHubSettings = GitHubSettings()


def env_var_for(location: tuple[int | str, ...]) -> str:
    """Return the environment variable that sets the field at a pydantic error location."""
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(str(part).upper() for part in location)


def load_settings() -> Settings:
    """Read settings from the environment and `.env`.

    Returns:
        The validated settings.

    Raises:
        SettingsError: a value is invalid; the message names each env var and what it needs.
    """
    try:
        return Settings()
    except ValidationError as exc:
        problems = [_describe(err["loc"], err.get("input"), err["msg"]) for err in exc.errors()]
        raise SettingsError(
            "invalid driftloop settings (fix the environment variable or .env entry):\n  "
            + "\n  ".join(problems)
        ) from None


def _describe(location: tuple[int | str, ...], value: object, message: str) -> str:
    shown = "<hidden>" if any("token" in str(part) for part in location) else repr(value)
    return f"{env_var_for(location)}={shown}: {message}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return load_settings()
