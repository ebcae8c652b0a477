"""The stages of one batch's run up to the retrain decision (validate, monitor, decide)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from config.manifest import Manifest
from data_validation.quarantine import unreadable_outcome
from delivery.notify import Notification
from evaluation.metrics import DEFAULT_METRIC, watched_metrics
from model_monitoring.measures import DriftSummary
from model_monitoring.policy import RetrainDecision, policy_rules
from pipeline import tasks
from pipeline.context import RunContext, RunSummary, finish, reject, stamp
from pipeline.inputs import (
    drift_reference,
    drift_sample,
    new_labelled_rows,
    regime_files,
)
from pipeline.notices import notify
from pipeline.records import decision_text, drift_lines
from registry.models import RegisteredVersion
from registry.release import BATCH_TAG
from runs.errors import BatchReadError


@dataclass(frozen=True)
class Measured:
    """The monitor's measurement, and the production model's training data it compared with."""

    drift: DriftSummary
    report: Path
    manifest: Manifest
    metric: str
    watch: tuple[str, ...]
    # The batch and a one-file reference, by content hash: training takes them from here.
    frames: dict[str, pd.DataFrame]


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
        frames[manifest[0].sha256] = reference
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
        rules=replace(
            policy_rules(settings.policy.name, settings.policy.overrides()),
            full_window=settings.training.window_batches,
        ),
        regime_files=len(regime_files(settings, run.dataset, run)),
        model_files=len(measured.manifest) if production else 0,
        watch=measured.watch,
        baselines=production.metrics if production else {},
        force=force,
        new_labelled_rows=new_labelled_rows(run, measured.manifest if production else ()),
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
