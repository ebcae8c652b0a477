"""The retraining stages: train and register a challenger, evaluate it, release it if it wins."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient
from prefect.runtime import flow_run

from config.manifest import Manifest
from config.settings import Settings
from delivery.notify import Notification
from evaluation.holdout import Evaluation
from evaluation.slices import slice_regressions
from model_monitoring.policy import RetrainDecision
from pipeline import model_tasks, shipping, tasks
from pipeline.context import RunContext, RunSummary, finish
from pipeline.inputs import (
    alias_names,
    metric_floor,
    training_params,
    training_window,
    version_tags,
)
from pipeline.notices import notify
from pipeline.records import candidates, model_card, promotion_text
from pipeline.stages import Measured
from registry import tracking
from registry.models import RegisteredVersion
from registry.promotion import PromotionDecision
from runs.batches import SOURCE_COLUMN
from training.fit import TrainingResult


@dataclass(frozen=True)
class Candidate:
    """A trained and registered challenger, and the data it was trained on."""

    result: TrainingResult
    version: RegisteredVersion
    manifest: Manifest


def retrain(
    run: RunContext,
    decision: RetrainDecision,
    production: RegisteredVersion | None,
    measured: Measured,
) -> RunSummary:
    """Train and register a challenger, compare it with the champion, release it if it wins."""
    candidate = train(run, decision, production, measured)
    settings = run.settings
    with run.clock("evaluate"):
        evaluation = model_tasks.evaluate(
            candidate.result,
            production,
            run.dataset,
            settings.promotion,
            metric=measured.metric,
            watch=measured.watch,
        )
        verdict = model_tasks.decide_promotion_task(
            metric=measured.metric,
            challenger=candidate.result.metrics[measured.metric],
            comparisons=evaluation.comparisons,
            min_improvement=settings.promotion.min_improvement,
            confidence=settings.promotion.confidence,
            floor=metric_floor(settings, measured.metric),
            slice_regressions=slice_regressions(evaluation.slices) if evaluation.slices else (),
        )
    return release(run, candidate, evaluation, verdict, production)


def train(
    run: RunContext,
    decision: RetrainDecision,
    production: RegisteredVersion | None,
    measured: Measured,
) -> Candidate:
    """Fit the challenger on the policy's window and register it as a new version."""
    settings, dataset = run.settings, run.dataset
    with run.clock("train"):
        manifest, weights = training_window(settings, dataset, run, decision)
        frame = tasks.load_training_frame(
            manifest, Path.cwd(), SOURCE_COLUMN, known=measured.frames
        )
        seen = {e.sha256 for e in measured.manifest} if production else set()
        result = model_tasks.train_challenger(
            frame, dataset, training_params(settings), seen, weights
        )
        run.train_rows = result.train_rows
    with run.clock("register"), tempfile.TemporaryDirectory() as workdir:
        version = model_tasks.register_challenger(
            settings.mlflow,
            dataset,
            result,
            manifest=manifest,
            tags=version_tags(manifest, decision.reasons, run.batch.sha256),
            workdir=Path(workdir),
        )
    return Candidate(result, version, manifest)


def release(
    run: RunContext,
    candidate: Candidate,
    evaluation: Evaluation,
    verdict: PromotionDecision,
    production: RegisteredVersion | None,
) -> RunSummary:
    """Under the release lock: move the aliases, log the model card, tell CD; then record."""
    settings, challenger = run.settings, candidate.version
    with run.clock("promote"), shipping.promotion_lock(settings, run.dataset.name):
        action = model_tasks.promote(
            settings.mlflow,
            challenger,
            verdict,
            evaluated_against=production.version if production else None,
            actor=shipping.current_actor(str(flow_run.id)),
            batch=run.batch.sha256,
            aliases=alias_names(settings),
        )
        card = model_card(
            run,
            version=challenger,
            result=candidate.result,
            evaluation=evaluation,
            decision=verdict,
            action=action,
            manifest=candidate.manifest,
            champion=production,
        )
        model_tasks.publish_model_card(settings.mlflow, challenger, card)
        shipped = (
            shipping.ship(mlflow_client(settings), settings, action.release, deliver(settings))
            if action.release
            else None
        )
    run.note(
        candidates=candidates(
            production, evaluation.champion_metrics, challenger, candidate.result.metrics
        ),
        promotion=promotion_text(verdict, action, evaluation),
        registry=[f"`{m.alias}`: {m.from_version} -> {m.to_version}" for m in action.moves],
    )
    if shipped is None:
        reason = action.lost or verdict.reason
        return finish(run, "challenger lost", reason, production, challenger.version)
    run.note(delivery=shipped.delivery.note)
    summary = finish(run, "promoted", verdict.reason, production, challenger.version, promoted=True)
    notify(
        settings,
        Notification(
            "model_promoted",
            run.dataset.name,
            verdict.reason,
            batch=run.batch.name,
            model_version=challenger.version,
            previous_version=production.version if production else None,
            record=summary.record,
            details={"CD": shipped.delivery.note},
        ),
    )
    return summary


def mlflow_client(settings: Settings) -> MlflowClient:
    """A registry client for the configured tracking URI."""
    return tracking.connect(settings.mlflow.tracking_uri)


def deliver(settings: Settings) -> shipping.Deliver:
    """The CD hand-off as the flow makes it: the dispatch task, with its retries."""
    return lambda request: model_tasks.trigger_cd(
        settings.github, request, shipping.dry_run_path(settings)
    )
