"""The stages of one batch's run (validate, monitor, decide, retrain, release): task calls only."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient
from prefect.runtime import flow_run

from config.metrics import DEFAULT_METRIC, watched_metrics
from config.settings import Settings
from data_validation.quarantine import unreadable_outcome
from delivery.notify import Notification
from model_monitoring.drift import DriftSummary
from model_monitoring.policy import PolicyRules, RetrainDecision
from pipeline import model_tasks, shipping, tasks
from pipeline.context import RunContext, RunSummary, finish, reject, stamp
from pipeline.inputs import (
    alias_names,
    drift_reference,
    drift_sample,
    metric_floor,
    new_labelled_rows,
    regime_files,
    training_params,
    training_window,
    version_tags,
)
from pipeline.notices import notify
from pipeline.records import candidates, decision_text, drift_lines, model_card, promotion_text
from registry import tracking
from registry.evaluation import Evaluation
from registry.models import RegisteredVersion
from registry.promotion import PromotionDecision
from registry.release import BATCH_TAG
from runs.batches import SOURCE_COLUMN
from runs.errors import BatchReadError
from training.fit import TrainingResult
from training.slices import slice_regressions


@dataclass(frozen=True)
class Measured:
    """The monitor's measurement, and the production model's training data it compared with."""

    drift: DriftSummary
    report: Path
    manifest: list[dict[str, str]]
    metric: str
    watch: tuple[str, ...]
    # The batch and a one-file reference, by content hash: training takes them from here.
    frames: dict[str, pd.DataFrame]


@dataclass(frozen=True)
class Candidate:
    """A trained and registered challenger, and the data it was trained on."""

    result: TrainingResult
    version: RegisteredVersion
    manifest: list[dict[str, str]]


def validate(run: RunContext) -> pd.DataFrame:
    """Read and validate the batch; an unreadable or failing batch is quarantined, the run fails."""
    with run.clock("validate"):
        try:
            frame = tasks.read_batch(run.batch.path)
        except BatchReadError as exc:
            if not run.batch.path.is_file():
                raise  # nothing left to quarantine
            frame, outcome = pd.DataFrame(), unreadable_outcome(str(exc))
        else:
            outcome = tasks.validate_batch(
                run.settings.paths.gx_root,
                run.dataset,
                frame,
                sample_rows=run.settings.validation.sample_rows,
            )
    run.start(frame, outcome)
    if not outcome.success:
        reject(run, outcome)
    return frame


def already_released(run: RunContext, production: RegisteredVersion | None) -> RunSummary | None:
    """Record a batch whose model an earlier run released before dying (no retraining)."""
    if production is None or production.tags.get(BATCH_TAG) != run.batch.sha256:
        return None
    message = f"v{production.version} was trained on this batch and released by an earlier run"
    return finish(run, "promoted", message, production, production.version, promoted=True)


def monitor(run: RunContext, frame: pd.DataFrame, production: RegisteredVersion | None) -> Measured:
    """Measure drift and the production model's health on the batch; log and report it."""
    settings, dataset = run.settings, run.dataset
    metric = settings.promotion.metric or DEFAULT_METRIC[dataset.task.value]
    watch = watched_metrics(dataset.task.value, metric)
    with run.clock("monitor"):
        reference, manifest = drift_reference(settings, dataset, production)
        tested = drift_sample(settings, reference)
        scores = (
            tasks.score_batch(settings.mlflow, production, tested, frame, dataset)
            if production
            else None
        )
        report = settings.paths.reports / f"monitor-{stamp()}.html"
        drift = tasks.monitor_batch(
            tested,
            frame,
            dataset,
            drift=settings.drift,
            watch=watch,
            scores=scores,
            report_path=report,
            reference_rows=len(reference),
        )
        tasks.log_monitoring(
            settings.mlflow,
            run.batch,
            drift,
            report,
            {"batch": run.batch.name, "sha256": run.batch.sha256},
        )
    run.measured(metric, drift.realized.get(metric), drift.estimated.get(metric))
    frames = {run.batch.sha256: frame}
    if len(manifest) == 1:
        frames[manifest[0]["sha256"]] = reference
    return Measured(drift, report, manifest, metric, watch, frames)


def observe(run: RunContext, measured: Measured) -> None:
    """Put the measurement in the record of a run that takes no decision."""
    run.note(
        drift=drift_lines(measured.drift, measured.metric),
        drift_report=measured.report.resolve().as_uri(),
        decision="monitoring only: this run measures and records, it never trains",
    )


def decide(
    run: RunContext, measured: Measured, production: RegisteredVersion | None, *, force: bool
) -> RetrainDecision:
    """Apply the retrain policy to the measurement, given the batches before it."""
    settings = run.settings
    decision = tasks.decide_retrain(
        measured.drift,
        settings.paths.ledger,
        rules=PolicyRules(
            **settings.policy.resolved(), full_window=settings.training.window_batches
        ),
        regime_files=len(regime_files(settings, run.dataset, run)),
        model_files=len(measured.manifest) if production else 0,
        watch=measured.watch,
        baselines=production.metrics if production else {},
        force=force,
        new_labelled_rows=new_labelled_rows(run, measured.manifest if production else []),
    )
    run.decided(decision)
    run.note(
        drift=drift_lines(measured.drift, measured.metric),
        drift_report=measured.report.resolve().as_uri(),
        decision=decision_text(decision),
    )
    if decision.retrain:
        notify(
            settings,
            Notification(
                "retrain_decided",
                run.dataset.name,
                str(decision),
                batch=run.batch.name,
                model_version=production.version if production else None,
                details={"signals": ", ".join(decision.signals) or "none"},
            ),
        )
    return decision


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
        seen = {e["sha256"] for e in measured.manifest} if production else set()
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
