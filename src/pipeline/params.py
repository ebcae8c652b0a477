"""Settings onto stage parameters: what each stage is given, built in one place.

Also who is acting (user@host and the Prefect flow run), the workspace a replay runs in, and
the stage loggers' level under Prefect.
"""

from __future__ import annotations

import getpass
import logging
import socket
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect.runtime import flow_run
from prefect.settings import PREFECT_LOGGING_EXTRA_LOGGERS, PREFECT_LOGGING_LEVEL

from compute.engine import Engine, open_engine
from config.errors import ConfigError
from config.manifest import Manifest
from config.settings import PolicyName, Settings
from config.spec import DatasetSpec, Task, level_lag, lies_inside
from delivery.request import DispatchRequest, build_dispatch_request
from evaluation.holdout import EvaluationRules
from evaluation.metrics import DEFAULT_METRIC, watched_metrics
from model_monitoring.measures import DriftTests
from model_monitoring.policy import PolicyRules, policy_rules
from registry import locks, promotion
from registry.models import MANIFEST_ARTIFACT, RegisteredVersion
from registry.release import BATCH_TAG, Aliases, Release
from runs import versions
from runs.provenance import git_commit, manifest_hash
from runs.versions import Store
from training import window
from training.params import TrainingParams


def metric(settings: Settings, dataset: DatasetSpec) -> str:
    """The promotion metric: the configured one, or the task's default."""
    return settings.promotion.metric or DEFAULT_METRIC[dataset.task.value]


def watch(settings: Settings, dataset: DatasetSpec) -> tuple[str, ...]:
    """The metrics whose drop the monitor watches, the promotion metric first."""
    return watched_metrics(dataset.task.value, metric(settings, dataset))


def promotion_rule(settings: Settings, dataset: DatasetSpec) -> promotion.PromotionRule:
    """The promotion rule: metric, margin, confidence and the metric's floor."""
    p, chosen = settings.promotion, metric(settings, dataset)
    return promotion.PromotionRule(
        metric=chosen,
        min_improvement=p.min_improvement,
        confidence=p.confidence,
        floor=promotion.metric_floor(chosen, p.floor),
        relative=_relative(dataset) if p.relative is None else p.relative,
    )


def training_files(
    settings: Settings, regime: list[Path], batch: Path, *, starts_regime: bool
) -> list[Path]:
    """The files the challenger trains on, by the configured window."""
    t = settings.training
    return window.training_files(
        regime, batch, starts_regime=starts_regime, window=t.window, batches=t.window_batches
    )


def file_weights(settings: Settings, manifest: Manifest) -> dict[str, float]:
    """Each training file's sample weight, by content hash."""
    t = settings.training
    return window.weights_by_file(manifest, window=t.window, half_life=t.decay_half_life)


def drift_tests(settings: Settings) -> DriftTests:
    """How drift is tested."""
    d = settings.drift
    return DriftTests(
        numeric_method=d.numeric_method,
        categorical_method=d.categorical_method,
        threshold=d.column_threshold,
        alpha=d.alpha,
        share_threshold=d.share_threshold,
        sample_rows=d.sample_rows,
    )


def retrain_rules(settings: Settings, dataset: DatasetSpec) -> PolicyRules:
    """The named retrain policy with the configured overrides (drops relative for regression)."""
    overrides = {"relative": _relative(dataset), **settings.policy.overrides()}
    rules = policy_rules(settings.policy.name, overrides)
    return replace(rules, full_window=settings.training.window_batches)


def _relative(dataset: DatasetSpec) -> bool:
    # A regression target's units (ppm, dollars) give an absolute drop or margin no meaning.
    return dataset.task is Task.REGRESSION


def training_params(settings: Settings) -> TrainingParams:
    """XGBoost parameters and the tuning budget."""
    t = settings.training
    return TrainingParams(
        n_estimators=t.n_estimators,
        max_depth=t.max_depth,
        learning_rate=t.learning_rate,
        early_stopping_rounds=t.early_stopping_rounds,
        holdout_fraction=t.holdout_fraction,
        seed=t.seed,
        n_jobs=t.n_jobs,
        tuning_trials=t.tuning_trials,
        tuning_timeout_seconds=t.tuning_timeout_seconds,
        tuning_jobs=t.tuning_jobs,
        tuning_min_rows=t.tuning_min_rows,
        device=t.device,
    )


def engine(settings: Settings) -> AbstractContextManager[Engine]:
    """The engine the run computes on, as configured (`DRIFTLOOP_ENGINE__*`)."""
    e = settings.engine
    return open_engine(
        e.kind,
        address=e.address,
        workers=e.workers,
        threads_per_worker=e.threads_per_worker,
        memory_limit=e.memory_limit,
    )


def evaluation_rules(settings: Settings) -> EvaluationRules:
    """How challenger and champion are compared."""
    p = settings.promotion
    return EvaluationRules(
        confidence=p.confidence,
        resamples=p.bootstrap_resamples,
        slice_min_rows=p.slice_min_rows,
        slice_tolerance=p.slice_tolerance,
    )


def aliases(settings: Settings) -> Aliases:
    """The registry alias names."""
    p = settings.promotion
    return Aliases(
        production=p.production_alias,
        previous=p.previous_alias,
        challenger=p.challenger_alias,
        candidate=p.candidate_alias,
    )


def lock_folder(settings: Settings) -> Path:
    """Where the run and release locks live: next to the run ledger."""
    return settings.paths.ledger.parent / ".locks"


def release_lock(settings: Settings, name: str) -> AbstractContextManager[Any]:
    """The lock that serializes the model's releases (`promotion.lock_backend`)."""
    timeout = settings.promotion.lock_timeout_seconds
    if settings.promotion.lock_backend == "prefect":
        return locks.server_lock(f"driftloop-release-{name}", timeout=timeout)
    return locks.release_lock(lock_folder(settings), name, timeout=timeout)


def run_lock(
    settings: Settings, name: str, *, timeout: float | None = None
) -> AbstractContextManager[Any]:
    """The lock that makes the dataset's runs take turns (`promotion.lock_backend`).

    It waits `timeout` seconds (default: `promotion.lock_timeout_seconds`), then raises
    TimeoutError.
    """
    timeout = settings.promotion.lock_timeout_seconds if timeout is None else timeout
    if settings.promotion.lock_backend == "prefect":
        return locks.server_lock(f"driftloop-run-{name}", timeout=timeout)
    return locks.run_lock(lock_folder(settings), name, timeout=timeout)


def dispatch_request(
    settings: Settings, version: RegisteredVersion, release: Release
) -> DispatchRequest:
    """The `repository_dispatch` that asks CD to ship `version`, released by `release`."""
    return build_dispatch_request(
        api_url=settings.github.api_url,
        repo=settings.github.repo,
        event_type=settings.github.event_type,
        model_name=version.name,
        model_version=version.version,
        run_id=version.run_id,
        metrics=version.metrics,
        alias=settings.promotion.production_alias,
        release=release.release_id,
    )


def dry_run_path(settings: Settings) -> Path:
    """Where a dispatch that is not sent (no token) is written."""
    return settings.paths.reports / f"dispatch-{stamp()}.json"


def predictions_path(settings: Settings, batch: Path, version: RegisteredVersion) -> Path:
    """Where a scored batch's predictions go by default."""
    return settings.paths.predictions / f"{batch.stem}.v{version.version}.csv"


def chosen_predictions_path(settings: Settings, out: str | None) -> Path | None:
    """The predictions file `out` names, checked before anything is scored (None: default).

    `out` is a file name (or a path) inside the predictions folder: the scoring deployment's
    parameter is set by whoever can reach the Prefect server, so it never names a place
    outside that folder.

    Raises:
        ConfigError: `out` leads outside the predictions folder or is not .csv or .parquet.
    """
    if out is None:
        return None
    folder = settings.paths.predictions
    chosen = (folder / out).resolve()  # an absolute `out` stays itself
    if not chosen.is_relative_to(folder.resolve()):
        raise ConfigError(
            f"--out {out}: predictions are written inside {folder} only "
            "(give a file name there, or set DRIFTLOOP_PATHS__PREDICTIONS)"
        )
    if chosen.suffix.lower() not in {".csv", ".parquet"}:
        raise ConfigError(f"--out {out}: name a .csv or .parquet file")
    return chosen


def scored_batch_path(settings: Settings, batch: str) -> Path:
    """The file a scoring run reads, checked like `out`: inside the project unless allowed.

    Raises:
        ConfigError: `batch` lies outside the working directory (links followed) and
            `paths.allow_outside_project` is not set.
    """
    path, home = Path(batch), Path.cwd().resolve()
    if not lies_inside(path, home) and not settings.paths.allow_outside_project:
        raise ConfigError(
            f"--batch {batch}: lies outside the project {home}; copy it inside, or set "
            "DRIFTLOOP_PATHS__ALLOW_OUTSIDE_PROJECT=true if that is meant"
        )
    return path


def version_tags(
    manifest: Manifest, reasons: tuple[str, ...], batch_sha256: str, store: Store | None
) -> dict[str, str]:
    """Provenance tags for a model version: its data (by DVC hash), git commit, why it was trained.

    `driftloop.data.dvc` lists each training file as `md5  path` (what `md5sum -c` reads; the
    md5 is the file's key in the DVC cache and remote); `driftloop.data.revision` is the git
    commit holding every file's DVC pointer, and `driftloop.data.remote` the DVC remote.
    """
    tags = {
        BATCH_TAG: batch_sha256,
        "driftloop.data_sha256": manifest_hash(manifest),
        "driftloop.data_files": str(len(manifest)),
        "driftloop.retrain_reasons": "; ".join(reasons)[:4000],
        DATA_TAG: dvc_listing(manifest),
        REVISION_TAG: data_revision(manifest, store),
        REMOTE_TAG: store.remote_shown if store and store.remote else "none",
    }
    commit = git_commit(Path.cwd())
    if commit:
        tags["driftloop.git_commit"] = commit
    return tags


DATA_TAG, REVISION_TAG, REMOTE_TAG = versions.DATA_TAG, versions.REVISION_TAG, versions.REMOTE_TAG
# MLflow keeps run tags up to 8,000 characters; the manifest artifact always has every file.
LISTING_CHARS = 7000


def dvc_listing(manifest: Manifest) -> str:
    """`md5  path` per file, cut (with a count) where the tag would be too long."""
    lines = [f"{e.md5}  {e.path}" for e in manifest]
    shown, size = [], 0
    for number, line in enumerate(lines):
        if size + len(line) + 1 > LISTING_CHARS:
            shown.append(f"... {len(lines) - number} more in the run's {MANIFEST_ARTIFACT}")
            break
        shown.append(line)
        size += len(line) + 1
    return "\n".join(shown)


def data_revision(manifest: Manifest, store: Store | None) -> str:
    """The git commit holding every training file's DVC pointer, or why there is none."""
    if store is None:
        return "none: not a DVC repository"
    untracked = [e.path for e in manifest if not e.pointer]
    if untracked:
        return f"none: not tracked by DVC: {', '.join(untracked)}"[:500]
    found = versions.revision(store, [e.pointer for e in manifest])
    return found or "none: pointers not committed"


def data_store(settings: Settings) -> tuple[Store | None, str]:
    """The project's DVC store as configured, or None and why (logged once per process).

    Raises:
        DataVersionError: the configured DVC remote does not exist.
    """
    if settings.data.versioning == "off":
        return None, "not versioned: DRIFTLOOP_DATA__VERSIONING=off"
    store, note = versions.open_store(
        Path.cwd(),
        remote=settings.data.remote,
        commit=settings.data.commit,
        push=settings.data.push,
        push_timeout_seconds=settings.data.push_timeout_seconds,
    )
    versions.warn_once(note)
    return store, note


def actor() -> str:
    """Who is acting: user@host, and the Prefect flow run when there is one."""
    who = f"{getpass.getuser()}@{socket.gethostname()}"
    run = flow_run.id
    return f"{who} (flow run {run})" if run else who


def arrival(settings: Settings) -> dict[str, Any]:
    """When a scanned file counts as complete (see `runs.batches.find_next_batch`)."""
    return {
        "settle_seconds": settings.incoming.settle_seconds,
        "ready_marker": settings.incoming.ready_marker,
    }


def replay_settings(settings: Settings, root: Path, policy: PolicyName | None) -> Settings:
    """Settings whose registry, ledger, GX results and reports all live under `root`.

    A replay never asks CI to ship anything (the dispatch is recorded, not sent), never posts
    to the team's channel, and never versions its copies of the batches with DVC.
    """
    paths = settings.paths.model_copy(
        update={
            "reports": root / "reports",
            "quarantine": root / "quarantine",
            "ledger": root / "ledger.jsonl",
            "gx_root": root / "great_expectations",
        }
    )
    tracking = settings.mlflow.model_copy(
        update={
            "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
            "artifact_root": root / "mlartifacts",
        }
    )
    chosen = settings.policy.model_copy(update={"name": policy}) if policy else settings.policy
    return settings.model_copy(
        update={
            "paths": paths,
            "mlflow": tracking,
            "policy": chosen,
            "github": settings.github.model_copy(update={"token": None}),
            "notify": settings.notify.model_copy(update={"webhook_url": None}),
            # A replay's copies are not the project's data: DVC versions only what production takes.
            "data": settings.data.model_copy(update={"versioning": "off"}),
        }
    )


def stamp() -> str:
    """UTC timestamp for file names."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def show_stage_logs() -> None:
    """Let the stage packages' INFO lines through Prefect's handlers, at Prefect's log level."""
    from pipeline.console import STAGE_LOGGERS  # noqa: PLC0415 - one list, kept by the console

    # Prefect attaches its handlers to PREFECT_LOGGING_EXTRA_LOGGERS but leaves their level at
    # the root's WARNING, which would hide every decision line the stages log at INFO. Those
    # come from pyproject.toml in this repository's folder only: run from anywhere else, the
    # stage packages get the handlers here.
    level = PREFECT_LOGGING_LEVEL.value()
    configured = set(PREFECT_LOGGING_EXTRA_LOGGERS.value())
    to_api = logging.getLogger("prefect.extra").handlers
    for name in [*configured, *STAGE_LOGGERS]:
        stage_logger = logging.getLogger(name)
        if name not in configured:
            for handler in to_api:
                if handler not in stage_logger.handlers:
                    stage_logger.addHandler(handler)
        if stage_logger.level == logging.NOTSET:
            stage_logger.setLevel(level)


def level(dataset: DatasetSpec) -> tuple[str, str] | None:
    """For a model of a difference, the lag column and the source its level is scored as."""
    lag = level_lag(dataset)
    return None if lag is None else (lag, dataset.derived[dataset.target].sources[0])
