"""How settings and the ledger map onto stage arguments: windows, parameters, floors, tags."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from config.manifest import Manifest
from config.settings import Settings
from config.spec import DatasetSpec
from model_monitoring.policy import CHANGE_SIGNALS, RetrainDecision
from model_monitoring.report import sample_rows
from pipeline import tasks
from pipeline.context import RunContext
from registry import promotion
from registry.models import RegisteredVersion
from registry.release import BATCH_TAG
from runs import ledger
from runs.batches import build_manifest
from runs.provenance import git_commit, manifest_hash
from training.params import TrainingParams
from training.window import file_weights, select_window


def drift_reference(
    settings: Settings, dataset: DatasetSpec, production: RegisteredVersion | None
) -> tuple[pd.DataFrame, Manifest]:
    """The production model's training data (or the spec's reference before the first model)."""
    if production is None:
        manifest = build_manifest([dataset.reference], Path.cwd())
    else:
        manifest = tasks.production_manifest(settings.mlflow, production)
    return tasks.load_training_frame(manifest, Path.cwd()), manifest


def drift_sample(settings: Settings, reference: pd.DataFrame) -> pd.DataFrame:
    """The reference rows the drift tests compare with: only these are scored by the model."""
    return sample_rows(reference, settings.drift.sample_rows)


def regime_files(settings: Settings, dataset: DatasetSpec, run: RunContext) -> list[Path]:
    """Labelled data files since the last change (from the reference when there was none)."""
    changed, regime = ledger.current_regime(ledger.read_ledger(settings.paths.ledger))
    paths = ([] if changed else [dataset.reference]) + [Path(e.path) for e in regime]
    return [*paths, run.batch.path] if run.labelled else paths


def training_window(
    settings: Settings, dataset: DatasetSpec, run: RunContext, decision: RetrainDecision
) -> tuple[Manifest, dict[str, float]]:
    """The files the challenger trains on and each file's weight.

    A retrain on a change signal starts a new regime: it trains on this batch alone, since older
    data belongs to the concept that just ended. Otherwise the policy's window applies to the
    data since the last change.
    """
    t = settings.training
    run.regime_start = bool(set(decision.signals) & set(CHANGE_SIGNALS))
    if run.regime_start and t.window == "last_k":
        paths = [run.batch.path]
    else:
        paths = regime_files(settings, dataset, run)
    chosen = select_window(paths, window=t.window, batches=t.window_batches)
    manifest = build_manifest(chosen, Path.cwd())
    weights = file_weights(len(manifest), window=t.window, half_life=t.decay_half_life)
    return manifest, {e.sha256: w for e, w in zip(manifest, weights, strict=True)}


def new_labelled_rows(run: RunContext, production_manifest: Manifest) -> int:
    """Labelled rows in this batch that the production model was not trained on."""
    known = {e.sha256 for e in production_manifest}
    return run.rows if run.labelled and run.batch.sha256 not in known else 0


def training_params(settings: Settings) -> TrainingParams:
    """XGBoost parameters and the tuning budget from settings."""
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


def metric_floor(settings: Settings, metric: str) -> float | None:
    """The configured absolute floor, or the metric's default floor."""
    floor = settings.promotion.floor
    return promotion.metric_floor(metric, floor)


def alias_names(settings: Settings) -> dict[str, str]:
    """The registry alias names, as keyword arguments of `apply_promotion`."""
    p = settings.promotion
    return {
        "production_alias": p.production_alias,
        "previous_alias": p.previous_alias,
        "challenger_alias": p.challenger_alias,
    }


def version_tags(manifest: Manifest, reasons: tuple[str, ...], batch_sha256: str) -> dict[str, str]:
    """Provenance tags for a model version: data fingerprint, git commit, why it was trained."""
    tags = {
        BATCH_TAG: batch_sha256,
        "driftloop.data_sha256": manifest_hash(manifest),
        "driftloop.data_files": str(len(manifest)),
        "driftloop.retrain_reasons": "; ".join(reasons)[:4000],
    }
    commit = git_commit(Path.cwd())
    if commit:
        tags["driftloop.git_commit"] = commit
    return tags
