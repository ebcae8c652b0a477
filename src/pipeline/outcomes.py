"""One run's state, and its one ending: ledger entry, decision record, notification."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import Flow, get_run_logger
from prefect.client.schemas.objects import FlowRun
from prefect.runtime import flow_run
from prefect.settings import PREFECT_LOGGING_EXTRA_LOGGERS, PREFECT_LOGGING_LEVEL
from prefect.states import State

from config.errors import ConfigError
from config.manifest import Manifest
from config.settings import Settings, get_settings
from config.spec import DatasetSpec, load_spec
from data_validation.errors import DataValidationError
from data_validation.gate import ValidationOutcome
from data_validation.quarantine import clip_failure, is_unreadable
from delivery.notify import Notification, notify
from delivery.request import DispatchResult
from evaluation.holdout import Evaluation
from evaluation.slices import render_slice_table
from model_monitoring.measures import Measured, describe_drift
from model_monitoring.retrain import RetrainDecision
from pipeline import params, tasks
from registry.card import CardFacts, render_model_card
from registry.models import RegisteredVersion
from registry.promotion import PromotionDecision, describe_promotion
from registry.release import RegistryAction
from runs.batches import BatchFile
from runs.ledger import LedgerEntry, Status
from runs.outcome import Outcome, RunSummary
from runs.record import CandidateRow, Clock, DecisionRecord
from training.fit import TrainingResult

MONITORING_ONLY = "monitoring only: this run measures and records, it never trains"


@dataclass
class Run:
    """What one run has learned so far, stage by stage: the facts its ending records."""

    settings: Settings
    dataset: DatasetSpec
    batch: BatchFile
    name: str = field(default_factory=params.stamp)
    clock: Clock = field(default_factory=Clock)
    rows: int = 0
    labelled: bool = False
    validation: ValidationOutcome | None = None
    measured: Measured | None = None
    decision: RetrainDecision | None = None
    training: TrainingResult | None = None
    training_data: Manifest = ()
    challenger: RegisteredVersion | None = None
    evaluation: Evaluation | None = None
    promotion: PromotionDecision | None = None
    action: RegistryAction | None = None
    dispatched: DispatchResult | None = None

    def validated(self, frame: pd.DataFrame, outcome: ValidationOutcome) -> None:
        """Note the batch's size, whether it has labels, and the validation verdict."""
        target = self.dataset.target
        self.rows, self.validation = len(frame), outcome
        self.labelled = target in frame.columns and bool(frame[target].notna().any())


def finish(
    run: Run,
    outcome: Outcome,
    message: str,
    production: RegisteredVersion | None,
    *,
    version: str | None = None,
    status: Status = "accepted",
    path: Path | None = None,
) -> RunSummary:
    """End the run: its ledger entry, its decision record, its notification, its summary.

    Args:
        run: The run.
        outcome: How it ended.
        message: Why, in one line.
        production: The production model the run started with.
        version: The version the batch produced (a new challenger, or one released before).
        status: The ledger status of the batch.
        path: Where the batch is now (default: where it was found).
    """
    promoted = outcome is Outcome.PROMOTED
    tasks.record_batch(run.settings.paths.ledger, _entry(run, status, path or run.batch.path))
    record = tasks.write_decision_record(
        _record(run, outcome, production),
        run.settings.paths.reports / f"decision-{run.name}.md",
    )
    current = version if promoted else (production.version if production else None)
    get_run_logger().info(
        "%s: %s: %s [production %s]",
        run.batch.name,
        outcome,
        message,
        f"v{current}" if current else "none yet",
    )
    _announce(run, outcome, message, production, record)
    decision = run.decision
    return RunSummary(
        run.batch.name,
        outcome,
        message,
        production_version=current,
        challenger_version=version,
        record=str(record),
        seconds=dict(run.clock.seconds),
        rows=run.rows,
        metric=run.measured.metric if run.measured else "",
        value=run.measured.drift.realized.get(run.measured.metric) if run.measured else None,
        estimated=run.measured.drift.estimated.get(run.measured.metric) if run.measured else None,
        decision=str(decision) if decision else "",
        reasons=decision.reasons if decision else (),
        signals=decision.signals if decision else (),
        retrained=bool(decision and decision.retrain),
        promoted=promoted,
        train_rows=run.training.train_rows if run.training else 0,
    )


def announce(settings: Settings, notification: Notification) -> bool:
    """Post a notification to the configured webhook (a failure is logged, never raised)."""
    url = settings.notify.webhook_url
    return notify(
        url.get_secret_value() if url else None,
        notification,
        timeout=settings.notify.timeout_seconds,
    )


def _announce(
    run: Run, outcome: Outcome, message: str, production: RegisteredVersion | None, record: Path
) -> None:
    name, batch = run.dataset.name, run.batch.name
    if outcome is Outcome.REJECTED and run.validation is not None:
        failures = [str(f) for f in run.validation.failures]
        what = (
            "unreadable"
            if is_unreadable(run.validation)
            else f"{len(failures)} broken expectations"
        )
        announce(
            run.settings,
            Notification(
                "batch_rejected",
                name,
                f"{what}; {message}",
                batch=batch,
                record=str(record),
                details={"first": clip_failure(failures[0])} if failures else {},
            ),
        )
    elif outcome is Outcome.PROMOTED and run.challenger and run.dispatched:
        announce(
            run.settings,
            Notification(
                "model_promoted",
                name,
                message,
                batch=batch,
                model_version=run.challenger.version,
                previous_version=production.version if production else None,
                record=str(record),
                details={"CD": run.dispatched.note},
            ),
        )


def _entry(run: Run, status: Status, path: Path) -> LedgerEntry:
    decision = run.decision
    return LedgerEntry(
        batch=run.batch.name,
        sha256=run.batch.sha256,
        status=status,
        labelled=run.labelled,
        rows=run.rows,
        path=relative(path),
        run_id=str(flow_run.id),
        at=datetime.now(UTC).isoformat(),
        fired=bool(decision and decision.signals),
        retrained=bool(decision and decision.retrain),
        decision=str(decision) if decision else "",
        regime_start=bool(
            decision and decision.starts_regime and run.action and run.action.promoted
        ),
        actor=params.actor(),
    )


def _record(run: Run, outcome: Outcome, production: RegisteredVersion | None) -> DecisionRecord:
    measured, action, evaluation = run.measured, run.action, run.evaluation
    candidates: list[CandidateRow] = []
    if production and evaluation and evaluation.champion_metrics is not None:
        candidates.append(CandidateRow("champion", production.version, evaluation.champion_metrics))
    if run.challenger and run.training:
        candidates.append(CandidateRow("challenger", run.challenger.version, run.training.metrics))
    decision = run.decision.explain() if run.decision else None
    return DecisionRecord(
        run_name=run.name,
        dataset=run.dataset.name,
        batch=run.batch.name,
        batch_sha256=run.batch.sha256,
        rows=run.rows,
        outcome=outcome,
        validation=run.validation.describe() if run.validation else "not run",
        data_docs=run.validation.docs_url if run.validation else None,
        drift=tuple(describe_drift(measured.drift, measured.metric)) if measured else (),
        drift_report=measured.report.resolve().as_uri() if measured else None,
        decision=MONITORING_ONLY if outcome is Outcome.MONITORED else decision,
        candidates=tuple(candidates),
        promotion=(
            describe_promotion(run.promotion, action, evaluation)
            if run.promotion and action and evaluation
            else None
        ),
        registry=tuple(f"`{m.alias}`: {m.from_version} -> {m.to_version}" for m in action.moves)
        if action
        else (),
        dispatch=run.dispatched.note if run.dispatched else None,
        seconds=dict(run.clock.seconds),
    )


def model_card(run: Run, champion: RegisteredVersion | None) -> str:
    """The model card of the run's freshly registered challenger (after the registry acted)."""
    version, result, evaluation = run.challenger, run.training, run.evaluation
    decision, action = run.promotion, run.action
    assert version and result and evaluation and decision and action  # set by the flow first
    spec = run.dataset
    return render_model_card(
        CardFacts(
            name=version.name,
            version=version.version,
            run_id=version.run_id,
            task=spec.task.value,
            target=spec.target,
            numeric=list(spec.features.numeric),
            categorical=dict(result.schema["categorical"]),
            manifest=run.training_data,
            train_rows=result.train_rows,
            holdout_rows=len(result.holdout),
            params=result.params,
            metrics=result.metrics,
            intervals=evaluation.intervals,
            decision=decision,
            promoted=action.promoted,
            lost=action.lost,
            champion_version=champion.version if champion else None,
            retrain_reasons=run.decision.reasons if run.decision else (),
            drift_report=run.measured.report.resolve().as_uri() if run.measured else None,
            slice_table=render_slice_table(evaluation.slices) if evaluation.slices else None,
            tuning=result.tuning,
            git_commit=version.tags.get("driftloop.git_commit"),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
    )


def relative(path: Path) -> str:
    """`path` relative to the working directory when inside it, else absolute."""
    resolved, cwd = path.resolve(), Path.cwd().resolve()
    return (resolved.relative_to(cwd) if resolved.is_relative_to(cwd) else resolved).as_posix()


def retrain_notice(run: Run, production: RegisteredVersion | None) -> Notification:
    """The announcement that this run retrains, and why."""
    assert run.decision is not None  # announced once decided
    return Notification(
        "retrain_decided",
        run.dataset.name,
        str(run.decision),
        batch=run.batch.name,
        model_version=production.version if production else None,
        details={"signals": ", ".join(run.decision.signals) or "none"},
    )


def notify_failed_run(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Prefect on_failure hook: tell the channel a run failed, and why (not a rejected batch)."""
    error = state.result(raise_on_failure=False)
    if isinstance(error, DataValidationError):
        return  # the run itself announced the rejection
    try:
        settings = get_settings()
    except ConfigError:
        return  # without valid settings there is no webhook to tell
    try:
        dataset = load_spec(Path(flow_run.parameters.get("spec") or settings.paths.spec)).name
    except ConfigError:
        dataset = "unknown dataset"
    summary = f"{flow.name} run {flow_run.name} failed: {type(error).__name__}: {error}"
    batch = flow_run.parameters.get("batch")
    announce(settings, Notification("run_failed", dataset, summary[:500], batch=batch))


def show_stage_logs() -> None:
    """Let the stage packages' INFO lines through Prefect's handlers."""
    # Prefect attaches its handlers to PREFECT_LOGGING_EXTRA_LOGGERS but leaves their level at
    # the root's WARNING, which would hide every decision line the stages log at INFO.
    level = PREFECT_LOGGING_LEVEL.value()
    for name in PREFECT_LOGGING_EXTRA_LOGGERS.value():
        stage_logger = logging.getLogger(name)
        if stage_logger.level == logging.NOTSET:
            stage_logger.setLevel(level)
