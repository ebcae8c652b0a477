"""The retraining flow: validate -> monitor -> decide -> train -> evaluate -> promote -> deliver."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.settings import PREFECT_LOGGING_EXTRA_LOGGERS, PREFECT_LOGGING_LEVEL

from config.metrics import DEFAULT_FLOOR, DEFAULT_METRIC
from config.settings import Settings, get_settings
from config.spec import DatasetSpec, load_spec
from data_validation.errors import DataValidationError
from data_validation.gate import ValidationOutcome
from delivery.dispatch import build_dispatch_request
from model_monitoring.drift import DriftSummary
from model_monitoring.estimate import ESTIMATE_CAVEAT
from model_monitoring.policy import PolicyRules, RetrainDecision
from pipeline import tasks
from registry.models import RegisteredVersion
from runs import ledger
from runs.batches import SOURCE_COLUMN, BatchFile, build_manifest
from runs.ledger import LedgerEntry
from runs.provenance import git_commit, manifest_hash
from runs.record import CandidateRow, DecisionRecord
from training.fit import TrainingParams
from training.window import file_weights, select_window


@dataclass(frozen=True)
class RunSummary:
    """The outcome of one run of the retraining flow."""

    batch: str | None
    outcome: str
    message: str
    production_version: str | None = None
    challenger_version: str | None = None
    record: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)


@flow(name="retraining")
def retraining_flow(
    spec: str | None = None, batch: str | None = None, force_retrain: bool = False
) -> RunSummary:
    """Process the next incoming batch (or `batch`) through the whole loop.

    Args:
        spec: Dataset spec YAML (default: settings `paths.spec`).
        batch: A specific batch file; default: the first unprocessed file in the spec's incoming.
        force_retrain: Retrain whatever the monitor says.
    """
    settings = get_settings()
    _show_stage_logs()
    dataset = load_spec(Path(spec) if spec else settings.paths.spec)
    pending = tasks.find_batch(dataset, settings.paths.ledger, Path(batch) if batch else None)
    if pending is None:
        message = f"no unprocessed batch in {dataset.incoming}"
        get_run_logger().info("no new batch: %s", message)
        return RunSummary(None, "no new batch", message)
    run = _Run(settings, dataset, pending)
    with run.clock("validate"):
        frame = tasks.read_batch(pending.path)
        outcome = tasks.validate_batch(settings.paths.gx_root, dataset, frame)
    run.start(frame, outcome)
    if not outcome.success:
        _reject(run, outcome)
    production = tasks.get_production(
        settings.mlflow, dataset.name, settings.promotion.production_alias
    )
    metric = settings.promotion.metric or DEFAULT_METRIC[dataset.task.value]
    with run.clock("monitor"):
        reference, reference_manifest = _drift_reference(settings, dataset, production)
        scores = (
            tasks.score_batch(settings.mlflow, production, reference, frame, dataset)
            if production
            else None
        )
        report = settings.paths.reports / f"monitor-{_stamp()}.html"
        drift = tasks.monitor_batch(
            reference,
            frame,
            dataset,
            drift=settings.drift,
            metric=metric,
            scores=scores,
            report_path=report,
        )
        tasks.log_monitoring(
            settings.mlflow,
            pending,
            drift,
            report,
            {"batch": pending.name, "sha256": pending.sha256},
        )
    decision = tasks.decide_retrain(
        drift,
        settings.paths.ledger,
        rules=PolicyRules(**settings.policy.resolved()),
        metric=metric,
        baseline=production.metrics.get(metric) if production else None,
        force=force_retrain,
        new_labelled_rows=_new_labelled_rows(run, reference_manifest if production else []),
    )
    run.note(
        drift=_drift_lines(drift, metric),
        drift_report=report.resolve().as_uri(),
        decision=_decision_text(decision),
    )
    run.decided(decision)
    if not decision.retrain:
        kept = "dry run" if decision.would_retrain else "kept production"
        return _finish(run, kept, str(decision), production)
    with run.clock("train"):
        manifest, weights = _training_window(settings, dataset, run)
        training_frame = tasks.load_training_frame(manifest, Path.cwd(), SOURCE_COLUMN)
        seen = {e["sha256"] for e in reference_manifest} if production else set()
        result = tasks.train_challenger(training_frame, dataset, _params(settings), seen, weights)
    with run.clock("register"), tempfile.TemporaryDirectory() as workdir:
        tags = _version_tags(manifest, decision.reasons)
        challenger = tasks.register_challenger(
            settings.mlflow, dataset, result, manifest=manifest, tags=tags, workdir=Path(workdir)
        )
    with run.clock("evaluate"):
        champion = tasks.score_champion(production, result.holdout, dataset) if production else None
        verdict = tasks.decide_promotion_task(
            metric=metric,
            challenger=result.metrics[metric],
            champion=champion[metric] if champion else None,
            min_improvement=settings.promotion.min_improvement,
            floor=_floor(settings, metric),
        )
    with run.clock("promote"):
        action = tasks.promote(
            settings.mlflow, dataset.name, challenger.version, verdict, _aliases(settings)
        )
    run.note(
        candidates=_candidates(production, champion, challenger, result.metrics),
        promotion=("promoted: " if verdict.promote else "not promoted: ") + verdict.reason,
        registry=[f"`{m.alias}`: {m.from_version} -> {m.to_version}" for m in action.moves],
    )
    if not verdict.promote:
        return _finish(run, "challenger lost", verdict.reason, production, challenger.version)
    with run.clock("deliver"):
        request = build_dispatch_request(
            api_url=settings.github.api_url,
            repo=settings.github.repo,
            event_type=settings.github.event_type,
            model_name=dataset.name,
            model_version=challenger.version,
            run_id=challenger.run_id,
            metrics=result.metrics,
            alias=settings.promotion.production_alias,
        )
        dry_run_path = settings.paths.reports / f"dispatch-{_stamp()}.json"
        delivered = tasks.trigger_cd(settings.github, request, dry_run_path)
    run.note(delivery=delivered.note)
    return _finish(run, "promoted", verdict.reason, production, challenger.version, promoted=True)


class _Run:
    """What one flow run knows about its batch: sizes, stage times and the growing record."""

    def __init__(self, settings: Settings, dataset: DatasetSpec, batch: BatchFile) -> None:
        self.settings, self.dataset, self.batch = settings, dataset, batch
        self.clock = _Clock()
        self.rows = 0
        self.labelled = False
        self.decision: RetrainDecision | None = None
        self.record = DecisionRecord(
            run_name=_stamp(),
            dataset=dataset.name,
            batch=batch.name,
            batch_sha256=batch.sha256,
            rows=0,
            outcome="running",
            validation="not run",
        )

    def start(self, frame: pd.DataFrame, outcome: ValidationOutcome) -> None:
        target = self.dataset.target
        self.rows = len(frame)
        self.labelled = target in frame.columns and bool(frame[target].notna().any())
        self.note(rows=self.rows, validation=_validation_text(outcome), data_docs=outcome.docs_url)

    def decided(self, decision: RetrainDecision) -> None:
        self.decision = decision

    def note(self, **fields: Any) -> None:
        self.record = replace(self.record, **fields)

    def entry(self, status: ledger.Status, path: Path) -> LedgerEntry:
        return LedgerEntry(
            batch=self.batch.name,
            sha256=self.batch.sha256,
            status=status,
            labelled=self.labelled,
            rows=self.rows,
            path=_relative(path),
            run_id=str(flow_run.id),
            at=datetime.now(UTC).isoformat(),
            fired=bool(self.decision and self.decision.signals),
            retrained=bool(self.decision and self.decision.retrain),
            decision=str(self.decision) if self.decision else "",
        )

    def write_record(self, outcome: str) -> Path:
        path = self.settings.paths.reports / f"decision-{self.record.run_name}.md"
        final = replace(self.record, outcome=outcome, seconds=dict(self.clock.seconds))
        return tasks.write_decision_record(final, path)


class _Clock:
    """Wall time per stage, reported in the run summary."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = round(time.perf_counter() - start, 3)


def _show_stage_logs() -> None:
    # Prefect attaches its handlers to PREFECT_LOGGING_EXTRA_LOGGERS but leaves their level at
    # the root's WARNING, which would hide every decision line the stages log at INFO.
    level = PREFECT_LOGGING_LEVEL.value()
    for name in PREFECT_LOGGING_EXTRA_LOGGERS.value():
        stage_logger = logging.getLogger(name)
        if stage_logger.level == logging.NOTSET:
            stage_logger.setLevel(level)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _validation_text(outcome: ValidationOutcome) -> str:
    if outcome.success:
        return f"passed suite `{outcome.suite}` ({outcome.evaluated} expectations)"
    broken = "\n".join(f"- {f}" for f in outcome.failures)
    return (
        f"FAILED suite `{outcome.suite}`: {len(outcome.failures)} of {outcome.evaluated} "
        f"expectations broken:\n\n{broken}"
    )


def _reject(run: _Run, outcome: ValidationOutcome) -> None:
    paths = run.settings.paths
    moved = tasks.quarantine(run.batch, outcome, paths.quarantine, _stamp())
    tasks.record_batch(paths.ledger, run.entry("quarantined", moved))
    written = run.write_record("batch rejected")
    failures = "\n  ".join(str(f) for f in outcome.failures)
    raise DataValidationError(
        f"batch {run.batch.name} failed validation ({len(outcome.failures)} broken "
        f"expectations); quarantined to {moved}; record {written}; Data Docs "
        f"{outcome.docs_url}:\n  {failures}",
        failures=tuple(str(f) for f in outcome.failures),
        quarantined_to=str(moved),
    )


def _finish(
    run: _Run,
    outcome: str,
    message: str,
    production: RegisteredVersion | None,
    challenger: str | None = None,
    *,
    promoted: bool = False,
) -> RunSummary:
    tasks.record_batch(run.settings.paths.ledger, run.entry("accepted", run.batch.path))
    path = run.write_record(outcome)
    current = challenger if promoted else (production.version if production else None)
    get_run_logger().info("%s: %s: %s [production v%s]", run.batch.name, outcome, message, current)
    return RunSummary(
        run.batch.name,
        outcome,
        message,
        production_version=current,
        challenger_version=challenger,
        record=str(path),
        seconds=dict(run.clock.seconds),
    )


def _relative(path: Path) -> str:
    resolved = path.resolve()
    cwd = Path.cwd().resolve()
    return (resolved.relative_to(cwd) if resolved.is_relative_to(cwd) else resolved).as_posix()


def _drift_reference(
    settings: Settings, dataset: DatasetSpec, production: RegisteredVersion | None
) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """The production model's training data (or the spec's reference before the first model)."""
    if production is None:
        manifest = build_manifest([dataset.reference], Path.cwd())
    else:
        manifest = tasks.production_manifest(settings.mlflow, production)
    return tasks.load_training_frame(manifest, Path.cwd()), manifest


def _training_window(
    settings: Settings, dataset: DatasetSpec, run: _Run
) -> tuple[list[dict[str, str]], dict[str, float]]:
    """The files the challenger trains on (the policy's window) and each file's weight."""
    accepted = ledger.training_entries(ledger.read_ledger(settings.paths.ledger))
    paths = [dataset.reference] + [Path(e.path) for e in accepted]
    if run.labelled:
        paths.append(run.batch.path)
    t = settings.training
    chosen = select_window(paths, window=t.window, batches=t.window_batches)
    manifest = build_manifest(chosen, Path.cwd())
    weights = file_weights(len(manifest), window=t.window, half_life=t.decay_half_life)
    return manifest, {e["sha256"]: w for e, w in zip(manifest, weights, strict=True)}


def _new_labelled_rows(run: _Run, production_manifest: list[dict[str, str]]) -> int:
    """Labelled rows in this batch that the production model was not trained on."""
    known = {e["sha256"] for e in production_manifest}
    return run.rows if run.labelled and run.batch.sha256 not in known else 0


def _params(settings: Settings) -> TrainingParams:
    t = settings.training
    return TrainingParams(
        n_estimators=t.n_estimators,
        max_depth=t.max_depth,
        learning_rate=t.learning_rate,
        early_stopping_rounds=t.early_stopping_rounds,
        holdout_fraction=t.holdout_fraction,
        seed=t.seed,
        n_jobs=t.n_jobs,
    )


def _floor(settings: Settings, metric: str) -> float | None:
    floor = settings.promotion.floor
    return floor if floor is not None else DEFAULT_FLOOR.get(metric)


def _aliases(settings: Settings) -> dict[str, str]:
    p = settings.promotion
    return {
        "production_alias": p.production_alias,
        "previous_alias": p.previous_alias,
        "challenger_alias": p.challenger_alias,
    }


def _version_tags(manifest: list[dict[str, str]], reasons: tuple[str, ...]) -> dict[str, str]:
    tags = {
        "driftloop.data_sha256": manifest_hash(manifest),
        "driftloop.data_files": str(len(manifest)),
        "driftloop.retrain_reasons": "; ".join(reasons)[:4000],
    }
    commit = git_commit(Path.cwd())
    if commit:
        tags["driftloop.git_commit"] = commit
    return tags


def _drift_lines(drift: DriftSummary, metric: str) -> list[str]:
    lines = [
        f"feature drift: {drift.drifted_count} of {len(drift.columns)} columns by distance "
        f"(raw share {drift.drifted_share:.2f}); {drift.corrected_count} after "
        f"Benjamini-Hochberg (corrected share {drift.corrected_share:.2f}): "
        + ("**drift**" if drift.drift_detected else "no drift")
    ]
    for c in drift.columns:
        p_value = f", p={c.p_value:.3g}" if c.p_value is not None else ""
        verdict = " **drifted**" if c.significant else (" (distance only)" if c.drifted else "")
        lines.append(
            f"`{c.column}` ({c.kind}): {c.method} {c.score:.3f} "
            f"(threshold {c.threshold}{p_value}){verdict}"
        )
    if drift.prediction:
        lines.append(
            f"prediction drift: {drift.prediction.method} {drift.prediction.score:.3f}"
            + (" **drifted**" if drift.prediction.drifted else "")
        )
    if drift.realized:
        band = drift.realized_interval.get(metric)
        interval = f" (95% bootstrap {band[0]:.4f}-{band[1]:.4f})" if band else ""
        value = drift.realized.get(metric, float("nan"))
        everything = ", ".join(f"{k} {v:.4f}" for k, v in sorted(drift.realized.items()))
        lines.append(
            f"production model on this batch: {metric} {value:.4f}{interval}; {everything}"
        )
    if drift.estimated:
        lines.append(
            "ESTIMATED (no labels): "
            + ", ".join(f"{k} {v:.4f}" for k, v in sorted(drift.estimated.items()))
            + f"; {ESTIMATE_CAVEAT}"
        )
    return lines


def _decision_text(decision: RetrainDecision) -> str:
    fired = ", ".join(decision.signals) or "none"
    numbers = ", ".join(f"{k} {v:.4f}" for k, v in sorted(decision.numbers.items()))
    return f"{decision}\n\nsignals fired: {fired}\n\nnumbers: {numbers}"


def _candidates(
    production: RegisteredVersion | None,
    champion: dict[str, float] | None,
    challenger: RegisteredVersion,
    metrics: dict[str, float],
) -> list[CandidateRow]:
    rows = [CandidateRow("challenger", challenger.version, metrics)]
    if production is not None and champion is not None:
        rows.insert(0, CandidateRow("champion", production.version, champion))
    return rows


if __name__ == "__main__":
    retraining_flow()
