"""What one flow run carries from stage to stage, and how settings map onto stage arguments."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger
from prefect.runtime import flow_run
from prefect.settings import PREFECT_LOGGING_EXTRA_LOGGERS, PREFECT_LOGGING_LEVEL

from config.settings import Settings
from config.spec import DatasetSpec
from data_validation.errors import DataValidationError, UnreadableBatchError
from data_validation.gate import ValidationOutcome
from data_validation.quarantine import clip_failure, is_unreadable
from delivery.notify import Notification
from model_monitoring.policy import RetrainDecision
from pipeline import tasks
from pipeline.notices import notify
from pipeline.records import validation_text
from pipeline.shipping import current_actor
from registry.models import RegisteredVersion
from runs import ledger
from runs.batches import BatchFile
from runs.ledger import LedgerEntry
from runs.record import DecisionRecord


@dataclass(frozen=True)
class RunSummary:
    """The outcome of one run of the retraining flow (one row of a simulation timeline)."""

    batch: str | None
    outcome: str
    message: str
    production_version: str | None = None
    challenger_version: str | None = None
    record: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    rows: int = 0
    metric: str = ""
    value: float | None = None
    estimated: float | None = None
    decision: str = ""
    reasons: tuple[str, ...] = ()
    signals: tuple[str, ...] = ()
    retrained: bool = False
    promoted: bool = False
    train_rows: int = 0


@dataclass(frozen=True)
class ScoringSummary:
    """The outcome of one run of the scoring flow."""

    batch: str
    rows: int
    model_version: str
    predictions: str
    prediction_drift: float | None
    prediction_drifted: bool
    report: str

    def __str__(self) -> str:
        """One line: what was scored, by which version, where it went, prediction drift."""
        drift = (
            f"{self.prediction_drift:.3f}" + (" (drifted)" if self.prediction_drifted else "")
            if self.prediction_drift is not None
            else "n/a"
        )
        return (
            f"{self.batch}: {self.rows} rows scored by v{self.model_version} -> "
            f"{self.predictions}; prediction drift {drift}; report {self.report}"
        )


class Clock:
    """Wall time per stage, reported in the record and the summary."""

    def __init__(self) -> None:
        """Start with no stages timed."""
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        """Time the block as `stage`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = round(time.perf_counter() - start, 3)


class RunContext:
    """What one run knows about its batch: sizes, the decision, stage times, the record."""

    def __init__(self, settings: Settings, dataset: DatasetSpec, batch: BatchFile) -> None:
        """Start the record for `batch`."""
        self.settings, self.dataset, self.batch = settings, dataset, batch
        self.clock = Clock()
        self.rows = 0
        self.labelled = False
        self.metric = ""
        self.value: float | None = None
        self.estimated: float | None = None
        self.decision: RetrainDecision | None = None
        self.train_rows = 0
        self.regime_start = False
        self.record = DecisionRecord(
            run_name=stamp(),
            dataset=dataset.name,
            batch=batch.name,
            batch_sha256=batch.sha256,
            rows=0,
            outcome="running",
            validation="not run",
        )

    def start(self, frame: pd.DataFrame, outcome: ValidationOutcome) -> None:
        """Note the batch's size, whether it has labels, and the validation verdict."""
        target = self.dataset.target
        self.rows = len(frame)
        self.labelled = target in frame.columns and bool(frame[target].notna().any())
        self.note(rows=self.rows, validation=validation_text(outcome), data_docs=outcome.docs_url)

    def measured(self, metric: str, value: float | None, estimated: float | None) -> None:
        """Note the production model's metric on the batch, before any retraining on it."""
        self.metric, self.value, self.estimated = metric, value, estimated

    def decided(self, decision: RetrainDecision) -> None:
        """Note the retrain decision."""
        self.decision = decision

    def note(self, **fields: Any) -> None:
        """Add fields to the decision record."""
        self.record = replace(self.record, **fields)

    def entry(self, status: ledger.Status, path: Path, *, promoted: bool = False) -> LedgerEntry:
        """The ledger line for this batch."""
        return LedgerEntry(
            batch=self.batch.name,
            sha256=self.batch.sha256,
            status=status,
            labelled=self.labelled,
            rows=self.rows,
            path=relative(path),
            run_id=str(flow_run.id),
            at=datetime.now(UTC).isoformat(),
            fired=bool(self.decision and self.decision.signals),
            retrained=bool(self.decision and self.decision.retrain),
            decision=str(self.decision) if self.decision else "",
            regime_start=self.regime_start and promoted,
            actor=current_actor(),
        )

    def write_record(self, outcome: str) -> Path:
        """Write the decision record (and its Prefect artifact)."""
        path = self.settings.paths.reports / f"decision-{self.record.run_name}.md"
        final = replace(self.record, outcome=outcome, seconds=dict(self.clock.seconds))
        return tasks.write_decision_record(final, path)


def reject(run: RunContext, outcome: ValidationOutcome) -> None:
    """Quarantine the batch, record it, and fail the run with every broken check.

    Raises:
        UnreadableBatchError: the file could not be read as a table (the reason is named).
        DataValidationError: the batch broke its expectation suite (every expectation listed).
    """
    paths = run.settings.paths
    moved = tasks.quarantine(run.batch, outcome, paths.quarantine, stamp())
    tasks.record_batch(paths.ledger, run.entry("quarantined", moved))
    written = run.write_record("batch rejected")
    failures = tuple(str(f) for f in outcome.failures)
    unreadable = is_unreadable(outcome)
    what = "unreadable" if unreadable else f"{len(failures)} broken expectations"
    notify(
        run.settings,
        Notification(
            "batch_rejected",
            run.dataset.name,
            f"{what}; quarantined to {relative(moved)}",
            batch=run.batch.name,
            record=str(written),
            details={"first": clip_failure(failures[0])} if failures else {},
        ),
    )
    where = f"quarantined to {moved}; record {written}"
    if unreadable:
        raise UnreadableBatchError(
            f"{outcome.failures[0].detail}; {where}",  # the read error names the batch
            failures=failures,
            quarantined_to=str(moved),
        )
    listed = "\n  ".join(clip_failure(f) for f in failures)
    raise DataValidationError(
        f"batch {run.batch.name} failed validation ({len(failures)} broken expectations); "
        f"{where}; Data Docs {outcome.docs_url}:\n  {listed}",
        failures=failures,
        quarantined_to=str(moved),
    )


def finish(
    run: RunContext,
    outcome: str,
    message: str,
    production: RegisteredVersion | None,
    challenger: str | None = None,
    *,
    promoted: bool = False,
    status: ledger.Status = "accepted",
) -> RunSummary:
    """Record the batch in the ledger, write the record, and summarize the run."""
    tasks.record_batch(
        run.settings.paths.ledger, run.entry(status, run.batch.path, promoted=promoted)
    )
    path = run.write_record(outcome)
    current = challenger if promoted else (production.version if production else None)
    shown = f"v{current}" if current else "none yet"
    get_run_logger().info("%s: %s: %s [production %s]", run.batch.name, outcome, message, shown)
    decision = run.decision
    return RunSummary(
        run.batch.name,
        outcome,
        message,
        production_version=current,
        challenger_version=challenger,
        record=str(path),
        seconds=dict(run.clock.seconds),
        rows=run.rows,
        metric=run.metric,
        value=run.value,
        estimated=run.estimated,
        decision=str(decision) if decision else "",
        reasons=decision.reasons if decision else (),
        signals=decision.signals if decision else (),
        retrained=bool(decision and decision.retrain),
        promoted=promoted,
        train_rows=run.train_rows,
    )


def show_stage_logs() -> None:
    """Let the stage packages' INFO lines through Prefect's handlers."""
    # Prefect attaches its handlers to PREFECT_LOGGING_EXTRA_LOGGERS but leaves their level at
    # the root's WARNING, which would hide every decision line the stages log at INFO.
    level = PREFECT_LOGGING_LEVEL.value()
    for name in PREFECT_LOGGING_EXTRA_LOGGERS.value():
        stage_logger = logging.getLogger(name)
        if stage_logger.level == logging.NOTSET:
            stage_logger.setLevel(level)


def stamp() -> str:
    """UTC timestamp for file names."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def relative(path: Path) -> str:
    """`path` relative to the working directory when inside it, else absolute."""
    resolved = path.resolve()
    cwd = Path.cwd().resolve()
    return (resolved.relative_to(cwd) if resolved.is_relative_to(cwd) else resolved).as_posix()
