"""Runtime settings: one pydantic-settings object, read from `DRIFTLOOP_*` env vars and `.env`."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.errors import SettingsError
from config.names import setting_names, unknown_settings

ENV_PREFIX = "DRIFTLOOP_"
ENV_NESTED_DELIMITER = "__"
ENV_FILE = ".env"
# Variables with the prefix that are not settings: prefect.yaml reads the project folder.
OTHER_VARIABLES = ("DRIFTLOOP_PROJECT_DIR",)

MetricName = Literal["roc_auc", "accuracy", "f1", "log_loss", "rmse", "mae", "r2"]


class PathSettings(BaseModel):
    """Where driftloop reads and writes files; relative paths resolve against the working dir.

    A relative path may not climb out of the working directory (`..`): data, ledger and
    reports stay inside the project unless an absolute path says otherwise on purpose.
    """

    spec: Path = Path("data/rainfall.yaml")
    reports: Path = Path("reports")
    quarantine: Path = Path("data/quarantine")
    ledger: Path = Path("data/ledger.jsonl")
    predictions: Path = Path("data/predictions")
    gx_root: Path = Path("great_expectations")
    # A flow's `spec` parameter can be set by anyone who reaches the Prefect server: a spec it
    # names, and the data that spec names, stay inside the project unless this is set.
    allow_outside_project: bool = Field(
        False, description="let a spec a run names (--spec) and its data lie outside the project"
    )

    @field_validator("spec", "reports", "quarantine", "ledger", "predictions", "gx_root")
    @classmethod
    def _stays_inside_the_project(cls, value: Path) -> Path:
        if not value.is_absolute() and ".." in value.parts:
            raise ValueError("a relative path may not contain '..'; use an absolute path")
        return value


DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


class MlflowSettings(BaseModel):
    """Tracking server and registry; SQLite and a local artifact folder by default."""

    # MLflow's own variable, which MLflow users have set already, applies when driftloop's
    # (DRIFTLOOP_MLFLOW__TRACKING_URI) is not given.
    tracking_uri: str = Field(
        default_factory=lambda: os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    )
    artifact_root: Path = Path("mlartifacts")
    training_experiment: str = "driftloop-training"
    monitoring_experiment: str = "driftloop-monitoring"


class ValidationSettings(BaseModel):
    """How big batches are validated."""

    # 20,000 rows put a share of unexpected values within +-0.2 points (2 standard errors at the
    # 2% allowance); the checks without an allowance still see every row.
    sample_rows: int = Field(
        20_000, ge=0, description="rows the expectation suite sees at most (0: every row)"
    )


class IncomingSettings(BaseModel):
    """When a file in incoming is complete enough to be taken as a batch."""

    # A file still being uploaded grows: one modified this recently is left for a later run.
    settle_seconds: float = Field(
        60.0, ge=0, description="a file modified more recently than this is still arriving"
    )
    # With a marker, a batch is taken only once `<file><marker>` exists (e.g. ".ready", as an
    # uploader writes it last); the marker itself is never a batch.
    ready_marker: str | None = Field(None, pattern=r"^\.[A-Za-z0-9_.-]+$")


# Evidently's drift methods that work on every column of their kind (fisher_exact and z need a
# binary column, so they are left out); tests/unit/model_monitoring/test_drift.py runs each.
NumericMethod = Literal[
    "wasserstein",
    "ks",
    "anderson",
    "cramer_von_mises",
    "ed",
    "es",
    "mannw",
    "empirical_mmd",
    "t_test",
    "hellinger",
    "jensenshannon",
    "kl_div",
    "psi",
]
CategoricalMethod = Literal[
    "jensenshannon", "chisquare", "g_test", "hellinger", "kl_div", "psi", "TVD"
]


class DriftSettings(BaseModel):
    """How drift is measured (methods pinned so results do not change with batch size)."""

    numeric_method: NumericMethod = "wasserstein"
    categorical_method: CategoricalMethod = "jensenshannon"
    column_threshold: float = Field(0.1, gt=0, description="per-column drift score threshold")
    alpha: float = Field(0.05, gt=0, lt=1, description="false discovery rate (Benjamini-Hochberg)")
    share_threshold: float = Field(
        0.5, gt=0, le=1, description="share of features drifted after correction that is drift"
    )
    # 20,000 rows a side already resolve far less than the 0.1 threshold (see README, "Scale"):
    # more rows buy no power, only time and memory.
    sample_rows: int = Field(
        20_000, ge=0, description="rows of each side the drift tests see (0: every row)"
    )


# The retrain policy's names and signals (model_monitoring/policy.py holds the rules and their
# defaults; a test keeps these literals equal to its PRESETS and SIGNALS).
PolicyName = Literal["default", "drift-only", "metric-only", "every-batch", "never"]
SignalName = Literal["realized_drop", "estimated_drop", "drift", "window_full", "divergence"]


class PolicySettings(BaseModel):
    """When to retrain: a named policy, with any field set here overriding it (None: unset)."""

    name: PolicyName = "default"
    signals: list[SignalName] | None = None
    realized_drop: float | None = Field(None, ge=0, description="realized metric drop that fires")
    estimated_drop: float | None = Field(None, ge=0, description="estimated metric drop that fires")
    persistence_n: int | None = Field(None, ge=1)
    persistence_m: int | None = Field(None, ge=1)
    cooldown: int | None = Field(None, ge=0, description="batches to wait after a retrain")
    budget: int | None = Field(None, ge=0, description="retrains allowed per budget_window")
    budget_window: int | None = Field(None, ge=1)
    every_batch: bool | None = None
    dry_run: bool | None = None
    relative: bool | None = Field(
        None, description="drops as a share of the baseline; None: for regression only"
    )

    def overrides(self) -> dict[str, Any]:
        """The fields set here, as overrides of the named policy."""
        return {k: v for k, v in self.model_dump(exclude={"name"}).items() if v is not None}


class TrainingSettings(BaseModel):
    """XGBoost parameters, the time-ordered holdout, and the hyperparameter tuning budget."""

    holdout_fraction: float = Field(0.2, gt=0, lt=1)
    n_estimators: int = Field(300, gt=0)
    max_depth: int = Field(6, gt=0)
    learning_rate: float = Field(0.05, gt=0, le=1)
    early_stopping_rounds: int = Field(30, gt=0)
    seed: int = 42
    n_jobs: int = Field(0, ge=0, description="0 means all cores")
    window: Literal["all", "last_k", "decay"] = "last_k"
    window_batches: int = Field(3, ge=1, description="files kept by the last_k window")
    decay_half_life: float = Field(2.0, gt=0, description="batches until a file weighs half")
    # From benchmarks/tuning.py on the demo data: 25 trials raised the holdout ROC AUC by 0.008 on
    # average over 6 single batches (1200 training rows, 5 seeds) and by 0.004-0.007 on the
    # reference (4800 rows), in about 1 s on 2 cores; 50 trials gained no more. At 240-480 rows
    # the early-stopping slice is too small to judge trials on: per-batch changes of -0.017 to
    # +0.046.
    tuning_trials: int = Field(25, ge=0, description="Optuna trials per retrain; 0 turns it off")
    tuning_timeout_seconds: float = Field(
        60.0, gt=0, description="no new tuning trial starts after this long"
    )
    # Parallel trials finish in a varying order, so only tuning_jobs=1 repeats a study exactly.
    tuning_jobs: int = Field(0, ge=0, description="tuning trials run at once; 0 means all cores")
    tuning_min_rows: int = Field(
        1000, ge=0, description="tune only when the training part has at least this many rows"
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where XGBoost trains; auto: the GPU when one is visible"
    )


class PromotionSettings(BaseModel):
    """The promotion rule and the registry alias names (they live here and nowhere else)."""

    metric: MetricName | None = Field(None, description="None picks roc_auc or rmse by task")
    min_improvement: float = Field(
        0.005, ge=0, description="margin the challenger must clear, with `confidence`"
    )
    relative: bool | None = Field(
        None, description="the margin as a share of the champion's value; None: regression only"
    )
    confidence: float = Field(
        0.95,
        gt=0.5,
        lt=1,
        description="one-sided confidence that the paired gain on the holdout clears the margin",
    )
    bootstrap_resamples: int = Field(
        1000, ge=100, description="paired bootstrap resamples of the holdout"
    )
    floor: float | None = Field(
        None, description="absolute floor on the metric; None: task default"
    )
    slice_tolerance: float = Field(
        0.02, ge=0, description="largest drop on any judged slice that still allows promotion"
    )
    slice_min_rows: int = Field(30, ge=1, description="smaller slices are shown, not judged")
    lock_timeout_seconds: float = Field(
        600, gt=0, description="how long a run waits for another run's promotion to finish"
    )
    lock_backend: Literal["file", "prefect"] = Field(
        "file",
        description="file: lock files next to the ledger (one host, or hosts sharing that "
        "folder); prefect: global concurrency limits on the Prefect server (hosts that share "
        "only the servers)",
    )
    approval: Literal["auto", "manual"] = Field(
        "auto",
        description="auto: a challenger that passes every gate is released; manual: it becomes "
        "the pending `candidate` until `driftloop approve` releases it (or `reject` refuses it)",
    )
    served_check: bool = Field(
        True,
        description="load each registered challenger through MLflow in a fresh process before "
        "a release; false only where that cannot work here (a release is then unchecked)",
    )
    served_check_rows: int = Field(
        200, ge=1, description="holdout rows the registered model must score, in a fresh process"
    )
    served_check_tolerance: float = Field(
        1e-6, ge=0, description="largest difference between served and in-process scores"
    )
    served_check_timeout_seconds: float = Field(
        300, gt=0, description="how long loading and scoring the registered model may take"
    )
    production_alias: str = "production"
    previous_alias: str = "previous"
    challenger_alias: str = "challenger"
    candidate_alias: str = "candidate"


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def https_or_loopback(url: str, *, shown: str | None = None) -> str:
    """`url` if it is https (a token or a secret URL travels over it), or http to this machine.

    Raises:
        ValueError: any other scheme or host; names `shown` (default: the URL itself).
    """
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return url
    what = shown or repr(url)
    raise ValueError(f"{what} must be https:// (plain http only to 127.0.0.1 or localhost)")


# user:password@ in any URL inside a text (an error message that quotes a tracking URI).
_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://[^:/\s@]+):[^@\s/]+@")


def redact_credentials(text: str) -> str:
    """`text` with the password of every URL in it replaced by *** (see `redact_url`)."""
    return _CREDENTIALS.sub(r"\g<scheme>:***@", text)


def redact_url(url: str) -> str:
    """`url` with any password (user:password@host) replaced by ***, to print or send."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class GitHubSettings(BaseModel):
    """The CD hand-off: a `repository_dispatch` to GitHub Actions; off without a token."""

    token: SecretStr | None = None
    repo: str = "driftloop/driftloop"
    event_type: str = "model-promoted"
    workflow: str = Field("cd.yml", description="the CD workflow file, whose runs are looked up")
    api_url: str = "https://api.github.com"
    timeout_seconds: float = Field(10.0, gt=0)
    attempts: int = Field(5, ge=1, description="tries of one dispatch before the run fails")
    base_delay_seconds: float = Field(
        2.0, gt=0, description="first back-off; it doubles per retry (Retry-After wins)"
    )

    @field_validator("api_url")
    @classmethod
    def _api_url_is_https(cls, value: str) -> str:
        return https_or_loopback(value)

    @field_validator("repo")
    @classmethod
    def _repo_is_owner_slash_name(cls, value: str) -> str:
        owner, _, name = value.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError("must look like OWNER/NAME, e.g. acme/fraud-model")
        return value


class NotifySettings(BaseModel):
    """Where pipeline events go: a webhook that takes Slack's message format; off without one."""

    # Slack webhook URLs carry their credential in the path, so the URL is a secret.
    webhook_url: SecretStr | None = None
    timeout_seconds: float = Field(10.0, gt=0)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_is_https(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            https_or_loopback(value.get_secret_value(), shown="the webhook URL")
        return value


class DataSettings(BaseModel):
    """Data versions: DVC records what the loop accepts or quarantines (`DRIFTLOOP_DATA__*`)."""

    versioning: Literal["auto", "off"] = Field(
        "auto", description="auto: DVC where the project is a DVC repository; off: hashes only"
    )
    remote: str | None = Field(None, description="DVC remote to push to; default: DVC's default")
    push: bool = Field(True, description="push accepted and quarantined data to the remote")
    commit: bool = Field(True, description="commit new DVC pointers to git, and only them")
    push_timeout_seconds: float = Field(
        120.0, gt=0, description="a slower push is left to the next run"
    )


class EngineSettings(BaseModel):
    """Where the heavy work runs: this process, or a Dask cluster (`DRIFTLOOP_ENGINE__*`)."""

    kind: Literal["local", "dask"] = Field(
        "local", description="local: one process (pandas); dask: a Dask cluster"
    )
    address: str | None = Field(
        None, description="a Dask scheduler (tcp://host:8786); empty: start a LocalCluster"
    )
    workers: int = Field(2, ge=1, description="worker processes of the LocalCluster")
    threads_per_worker: int = Field(1, ge=1, description="threads of each LocalCluster worker")
    memory_limit: str = Field(
        "auto", description="memory limit of each LocalCluster worker (e.g. 2GiB; auto: share)"
    )
    tuning_rows: int = Field(
        200_000, ge=1000, description="rows of the sample each tuning trial fits on (dask)"
    )


class Settings(BaseSettings):
    """All driftloop settings; env vars look like `DRIFTLOOP_DRIFT__SHARE_THRESHOLD=0.3`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
    )

    paths: PathSettings = PathSettings()
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    validation: ValidationSettings = ValidationSettings()
    incoming: IncomingSettings = IncomingSettings()
    drift: DriftSettings = DriftSettings()
    training: TrainingSettings = TrainingSettings()
    policy: PolicySettings = PolicySettings()
    promotion: PromotionSettings = PromotionSettings()
    github: GitHubSettings = GitHubSettings()
    notify: NotifySettings = NotifySettings()
    data: DataSettings = DataSettings()
    engine: EngineSettings = EngineSettings()


def env_var_for(location: tuple[int | str, ...]) -> str:
    """Return the environment variable that sets the field at a pydantic error location."""
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(str(part).upper() for part in location)


def load_settings() -> Settings:
    """Read settings from the environment and `.env`.

    Returns:
        The validated settings.

    Raises:
        SettingsError: a value is invalid, or a `DRIFTLOOP_*` variable sets nothing; the message
            names each variable and what it needs (or the closest valid name).
    """
    known = setting_names(Settings, ENV_PREFIX, ENV_NESTED_DELIMITER)
    unknown = unknown_settings(known, ENV_PREFIX, os.environ, Path(ENV_FILE), OTHER_VARIABLES)
    if unknown:
        raise SettingsError("unknown driftloop settings:\n  " + "\n  ".join(unknown))
    try:
        return Settings()
    except ValidationError as exc:
        problems = [_describe(err["loc"], err.get("input"), err["msg"]) for err in exc.errors()]
        raise SettingsError(
            "invalid driftloop settings (fix the environment variable or .env entry):\n  "
            + "\n  ".join(problems)
        ) from None


def _describe(location: tuple[int | str, ...], value: object, message: str) -> str:
    secret = any(word in str(part) for part in location for word in ("token", "webhook"))
    shown = "<hidden>" if secret else repr(value)
    return f"{env_var_for(location)}={shown}: {message}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return load_settings()
