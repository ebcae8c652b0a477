"""Prefect tasks of the model half of the loop: train, register, evaluate, release, deliver."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from prefect import task

from config.manifest import Manifest
from config.settings import GitHubSettings, MlflowSettings, PromotionSettings
from config.spec import DatasetSpec
from delivery.dispatch import DispatchRequest, DispatchResult
from evaluation.holdout import Evaluation, EvaluationRules, evaluate_challenger
from pipeline import shipping
from pipeline.tasks import REGISTRY_RETRIES, UNCACHED
from registry import models, release, tracking
from registry.models import ModelFiles, RegisteredVersion
from registry.promotion import PromotionDecision, decide_promotion
from registry.release import RegistryAction
from runs import batches
from training.fit import TrainingResult, fit_model
from training.model_code import predict_scores
from training.params import TrainingParams
from training.served import BoosterScorer, model_artifacts, model_code_path


@task(**UNCACHED)
def train_challenger(
    frame: pd.DataFrame,
    spec: DatasetSpec,
    params: TrainingParams,
    seen_files: set[str],
    file_weights: dict[str, float],
) -> TrainingResult:
    """Fit XGBoost with a time-ordered holdout that leaves out rows the champion trained on."""
    source = frame[batches.SOURCE_COLUMN]
    return fit_model(
        frame.drop(columns=batches.SOURCE_COLUMN),
        spec,
        params,
        seen=source.isin(seen_files),
        weights=source.map(file_weights),
    )


@task(**REGISTRY_RETRIES)
def register_challenger(
    settings: MlflowSettings,
    spec: DatasetSpec,
    result: TrainingResult,
    *,
    manifest: Manifest,
    tags: dict[str, str],
    workdir: Path,
) -> RegisteredVersion:
    """Log the challenger (XGBoost format, signature, input example) and register a version."""
    client = tracking.connect(settings.tracking_uri)
    experiment = tracking.ensure_experiment(
        client, settings.training_experiment, settings.artifact_root
    )
    example = result.holdout[list(spec.model_columns)].head(5)
    return models.log_model_version(
        experiment,
        name=spec.name,
        files=ModelFiles(code=model_code_path(), artifacts=model_artifacts(result, workdir)),
        params=result.params,
        metrics=result.metrics,
        example=example,
        example_output=predict_scores(result.booster, example, result.schema),
        manifest=manifest,
        tags={
            **tags,
            models.CLASSES_TAG: json.dumps(result.schema["classes"]),
            **({"driftloop.tuning": json.dumps(result.tuning)} if result.tuning else {}),
        },
        calibration=result.calibration,
        trials=[asdict(t) for t in result.trials],
    )


@task(**UNCACHED)
def evaluate(
    result: TrainingResult,
    champion: RegisteredVersion | None,
    spec: DatasetSpec,
    promotion: PromotionSettings,
    *,
    metric: str,
    watch: tuple[str, ...],
) -> Evaluation:
    """Score the champion on the challenger's holdout and measure how the two differ."""
    holdout = result.holdout
    theirs = None
    if champion is not None:
        scorer = BoosterScorer.from_artifacts(models.read_model_artifacts(champion.uri))
        theirs = (scorer.predict(holdout[list(spec.model_columns)]), champion.classes)
    return evaluate_challenger(
        holdout,
        spec,
        challenger=(
            predict_scores(result.booster, holdout, result.schema),
            result.schema["classes"],
        ),
        champion=theirs,
        metric=metric,
        watch=watch,
        rules=EvaluationRules(
            confidence=promotion.confidence,
            resamples=promotion.bootstrap_resamples,
            slice_min_rows=promotion.slice_min_rows,
            slice_tolerance=promotion.slice_tolerance,
        ),
    )


@task(**UNCACHED)
def decide_promotion_task(**rule: Any) -> PromotionDecision:
    """Apply the promotion rule."""
    return decide_promotion(**rule)


@task(**REGISTRY_RETRIES)
def promote(
    settings: MlflowSettings,
    challenger: RegisteredVersion,
    decision: PromotionDecision,
    *,
    evaluated_against: str | None,
    actor: str,
    batch: str,
    aliases: dict[str, str],
) -> RegistryAction:
    """Move the aliases as the decision says, if production is still the evaluated champion."""
    client = tracking.connect(settings.tracking_uri)
    return release.promote_challenger(
        client,
        name=challenger.name,
        version=challenger.version,
        promote=decision.promote,
        reason=decision.reason,
        evaluated_against=evaluated_against,
        actor=actor,
        batch=batch,
        **aliases,
    )


@task(**REGISTRY_RETRIES)
def publish_model_card(settings: MlflowSettings, version: RegisteredVersion, card: str) -> None:
    """Log the model card with the version's run."""
    models.log_model_card(tracking.connect(settings.tracking_uri), version, card)


# No task-level retries: the dispatch retries itself, honouring Retry-After and rate limits.
@task(**UNCACHED)
def trigger_cd(
    github: GitHubSettings,
    request: DispatchRequest,
    dry_run_path: Path,
    transport: httpx.BaseTransport | None = None,
) -> DispatchResult:
    """Ask GitHub Actions to ship the newly released model (or record the request, no token)."""
    return shipping.deliver_now(github, request, dry_run_path, transport)
