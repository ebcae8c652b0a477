"""One run's state, and its one ending: ledger entry, decision record, notification."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import Flow, get_run_logger
from prefect.client.schemas.objects import FlowRun
from prefect.runtime import flow_run
from prefect.states import State

from compute.engine import LOCAL, Engine
from compute.partitions import Partitions
from config.errors import ConfigError
from config.manifest import Manifest
from config.settings import Settings, get_settings
from config.spec import DatasetSpec, load_spec
from data_validation.errors import DataValidationError
from data_validation.gate import ValidationOutcome
from data_validation.quarantine import clip_failure, is_unreadable, rejection
from delivery.notify import Notification, notify
from delivery.request import DispatchResult
from evaluation.holdout import Evaluation
from evaluation.slices import render_slice_table
from model_monitoring.measures import Measured, describe_drift
from model_monitoring.retrain import RetrainDecision
from pipeline import notices, params, tasks
from registry.card import CardFacts, render_model_card
from registry.models import RegisteredVersion
from registry.promotion import PromotionDecision, describe_promotion
from registry.release import RegistryAction
from registry.servable import ServedCheck
from registry.tracking import report_artifact
from runs.batches import BatchFile
from runs.index import write_index
from runs.ledger import LedgerEntry, Status
from runs.links import Evidence
from runs.outcome import Outcome, RunSummary
from runs.pieces import labelled_rows
from runs.record import CandidateRow, Clock, DecisionRecord
from runs.versions import Store
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
    unnamed: tuple[str, ...] = ()
    validation: ValidationOutcome | None = None
    production: RegisteredVersion | None = None
    measured: Measured | None = None
    decision: RetrainDecision | None = None
    training: TrainingResult | None = None
    training_data: Manifest = ()
    challenger: RegisteredVersion | None = None
    evaluation: Evaluation | None = None
    promotion: PromotionDecision | None = None
    action: RegistryAction | None = None
    dispatched: DispatchResult | None = None
    card: str | None = None  # the model card as logged with the challenger
    served: ServedCheck | None = None  # the registered challenger, loaded in a fresh process
    store: Store | None = None  # the project's DVC repository; None: hashes only
    data_note: str = ""  # why the run's data is not (all) versioned
    versioned: tuple[Path, ...] = ()  # what DVC tracks for this run: pushed when it ends
    pointers: tuple[str, ...] = ()  # their DVC pointers (`.dvc` files, `dvc.lock`)
    pushed: str = ""  # what the push at the end said
    engine: Engine = LOCAL  # where the heavy work runs (this process, or a Dask cluster)
    parts: Partitions | None = None  # a folder batch's partitions (its frame is then a sample)

    @property
    def starts_regime(self) -> bool:
        """Whether the model this run trains starts a new regime (a change, against a champion).

        The first model never does: it learns from the reference as well, whatever the first
        batch's drift, since there is no earlier concept for the change to end.
        """
        return bool(self.decision and self.decision.starts_regime and self.production)

    def open_data(self) -> None:
        """Find the project's DVC repository (once per run; the reason it has none is logged)."""
        self.store, self.data_note = params.data_store(self.settings)

    def version(self, paths: Sequence[Path], message: str) -> None:
        """Record `paths` with DVC (commit their new pointers); a failure is noted, not raised.

        The run carries on when DVC cannot record a file (it is then hashed only, as outside a
        DVC repository); its record and log say why.
        """
        if self.store is None:
            return
        recorded, problems = tasks.track_data(self.store, paths, message)
        self.versioned += tuple(path for path, _ in recorded)
        self.pointers += tuple(pointer for _, pointer in recorded)
        if problems:  # each one logged where it arose
            self.data_note = "; ".join(problems)

    def data_line(self) -> str:
        """How the run's data is versioned, for its record."""
        if self.store is None or not self.pointers:
            return self.data_note
        revision = tasks.pointer_revision(self.store, self.pointers)
        where = f"pointers at git {revision[:12]}" if revision else "pointers not committed"
        pushed = self.pushed or "no DVC remote configured"
        shown = ", ".join(f"`{p}`" for p in dict.fromkeys(self.pointers))
        failed = f"; {self.data_note}" if self.data_note else ""
        return f"tracked by DVC ({shown}), {where}; {pushed}{failed}"

    def validated(
        self, frame: pd.DataFrame, outcome: ValidationOutcome, parts: Partitions | None = None
    ) -> None:
        """Note the batch's size, whether it has labels, and the validation verdict.

        With `parts` (a folder batch), `frame` is a sample: size and labels are counted on
        every partition.
        """
        target = self.dataset.target
        self.rows, self.validation, self.parts = len(frame), outcome, parts
        self.unnamed = tuple(self.dataset.unnamed_columns(frame.columns))
        self.labelled = target in frame.columns and bool(frame[target].notna().any())
        if parts is not None:
            self.rows, self.labelled = parts.total, labelled_rows(parts, target) > 0


def finish(
    run: Run,
    outcome: Outcome,
    message: str,
    *,
    version: str | None = None,
    status: Status = "accepted",
    path: Path | None = None,
) -> RunSummary:
    """End the run: its ledger entry, decision record, notification and summary.

    `version` is the one the batch produced (a challenger, or one an earlier run released);
    `path` is where the batch is now (default: where it was found).
    """
    promoted = outcome is Outcome.PROMOTED
    if run.store is not None:  # this run's data, and what an earlier push left
        run.pushed = tasks.push_data(run.store, [str(p) for p in run.versioned])
    entry = _entry(run, status, path or run.batch.path)
    tasks.record_batch(run.settings.paths.ledger, entry)
    if run.measured and run.measured.run_id:  # the store's copy, should the ledger be lost
        tasks.note_ledger_entry(run.settings.mlflow, run.measured.run_id, asdict(entry))
    reports, card = run.settings.paths.reports, _card(run)
    record = reports / f"decision-{run.name}.md"
    card_page = reports / f"model-card-{run.name}.html" if card else None
    tracking = run.settings.mlflow.tracking_uri
    tasks.write_decision_record(_record(run, outcome, card_page), record, tracking, card=card)
    write_index(reports)  # after the record, so the index lists this run too
    production = run.production.version if run.production else None
    current = version if promoted else production
    shown = f"v{current}" if current else "none yet"
    get_run_logger().info("%s: %s: %s [production %s]", run.batch.name, outcome, message, shown)
    announced = _notice(run, outcome, message, record)
    if announced is not None:
        announce(run.settings, announced)
    decision, measured = run.decision, run.measured
    return RunSummary(
        run.batch.name,
        outcome,
        message,
        production_version=current,
        challenger_version=version,
        record=str(record),
        seconds=dict(run.clock.seconds),
        rows=run.rows,
        metric=measured.metric if measured else "",
        value=measured.drift.realized.get(measured.metric) if measured else None,
        estimated=measured.drift.estimated.get(measured.metric) if measured else None,
        decision=str(decision) if decision else "",
        reasons=decision.reasons if decision else (),
        signals=decision.signals if decision else (),
        retrained=bool(decision and decision.retrain),
        promoted=promoted,
        train_rows=run.training.train_rows if run.training else 0,
    )


def reject(run: Run) -> DataValidationError:
    """Quarantine the batch and end the run; return the error the run fails with."""
    assert run.validation is not None  # a batch is rejected by its validation
    folder = run.settings.paths.quarantine
    # A file DVC tracks is never moved out of what tracks it: the quarantine keeps a copy.
    tracked = run.store is not None and tasks.is_tracked(run.store, run.batch.path)
    moved = tasks.quarantine_batch(
        run.batch.path, run.validation, folder, stamp=run.name, copy=tracked
    )
    run.version([moved.parent], f"driftloop: quarantine {run.batch.name} ({run.dataset.name})")
    where = f"quarantined to {relative(moved)}"
    ended = finish(run, Outcome.REJECTED, where, status="quarantined", path=moved)
    return rejection(run.validation, run.batch.name, moved, ended.record)


def announce(settings: Settings, notification: Notification) -> bool:
    """Post a notification to the configured webhook (a failure is logged, never raised)."""
    url = settings.notify.webhook_url
    secret = url.get_secret_value() if url else None
    return notify(secret, notification, timeout=settings.notify.timeout_seconds)


def retrain_notice(run: Run) -> Notification:
    """The announcement that this run retrains, and why."""
    assert run.decision is not None  # announced once decided
    return Notification(
        "retrain_decided",
        run.dataset.name,
        str(run.decision),
        batch=run.batch.name,
        model_version=run.production.version if run.production else None,
        details={"signals": ", ".join(run.decision.signals) or "none"},
    )


def unnamed_notice(run: Run) -> Notification:
    """The warning that a batch carries columns the spec does not name (they are not used)."""
    notice = notices.unnamed_notice(run.dataset.name, run.unnamed, batch=run.batch.name)
    get_run_logger().warning("%s: %s", run.batch.name, notice.summary)
    return notice


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


def _notice(run: Run, outcome: Outcome, message: str, record: Path) -> Notification | None:
    where = {"batch": run.batch.name, "record": str(record)}
    if outcome is Outcome.REJECTED and run.validation is not None:
        failures = [str(f) for f in run.validation.failures]
        broken = f"{len(failures)} broken expectations"
        what = "unreadable" if is_unreadable(run.validation) else broken
        first = {"first": clip_failure(failures[0])} if failures else {}
        return Notification(
            "batch_rejected", run.dataset.name, f"{what}; {message}", details=first, **where
        )
    production = run.production.version if run.production else None
    if outcome in (Outcome.PROMOTED, Outcome.NOT_SERVABLE, Outcome.AWAITING_APPROVAL):
        return _release_notice(run, outcome, message, where)
    if outcome is Outcome.MONITORED and run.measured is not None:
        return notices.drift_notice(
            run.dataset.name,
            run.measured.drift,
            rules=params.retrain_rules(run.settings, run.dataset),
            baselines=run.production.baselines if run.production else {},
            watch=run.measured.watch,
            model_version=production,
            **where,
        )
    if outcome in (Outcome.KEPT, Outcome.DRY_RUN) and run.decision is not None:
        return notices.held_back_notice(
            run.dataset.name, run.decision, model_version=production, **where
        )
    return None


def _release_notice(
    run: Run, outcome: Outcome, message: str, where: dict[str, str]
) -> Notification | None:
    """The notice of a challenger that won: released, held for approval, or not servable."""
    if run.challenger is None:
        return None
    production = run.production.version if run.production else None
    facts: dict[str, Any] = {
        "model_version": run.challenger.version,
        "previous_version": production,
        **where,
    }
    if outcome is Outcome.PROMOTED and run.dispatched:
        return Notification(
            "model_promoted",
            run.dataset.name,
            message,
            details={"CD": run.dispatched.note},
            **facts,
        )
    if outcome is Outcome.NOT_SERVABLE and run.served:
        stays = {"production stays": f"v{production}" if production else "none"}
        return Notification(
            "model_not_servable", run.dataset.name, run.served.reason, details=stays, **facts
        )
    if outcome is Outcome.AWAITING_APPROVAL and run.promotion:
        superseded = run.action.superseded if run.action else None
        return Notification(
            "approval_requested",
            run.dataset.name,
            f"{message}; the run found: {run.promotion.reason}",
            details={"supersedes": f"v{superseded}"} if superseded else {},
            **facts,
        )
    return None


def _entry(run: Run, status: Status, path: Path) -> LedgerEntry:
    decision, action = run.decision, run.action
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
        regime_start=bool(run.starts_regime and action and action.promoted),
        actor=params.actor(),
        dataset=run.dataset.name,
    )


def _record(run: Run, outcome: Outcome, card_page: Path | None) -> DecisionRecord:
    measured, action, evaluation, production = (
        run.measured,
        run.action,
        run.evaluation,
        run.production,
    )
    rows: list[CandidateRow] = []
    if production and evaluation and evaluation.champion_metrics is not None:
        rows.append(CandidateRow("champion", production.version, evaluation.champion_metrics))
    if run.challenger and run.training:
        rows.append(CandidateRow("challenger", run.challenger.version, run.training.metrics))
    decided = run.decision.explain() if run.decision else None
    docs = run.validation.docs_url if run.validation else None
    promotion = None
    if run.promotion and action and evaluation:
        promotion = describe_promotion(run.promotion, action, evaluation)
    moves = (
        [f"`{m.alias}`: {m.from_version} -> {m.to_version}" for m in action.moves] if action else []
    )
    return DecisionRecord(
        run_name=run.name,
        dataset=run.dataset.name,
        batch=run.batch.name,
        batch_sha256=run.batch.sha256,
        rows=run.rows,
        outcome=outcome,
        validation=run.validation.describe() if run.validation else "not run",
        unnamed_columns=run.unnamed,
        data_docs=_evidence(docs) if docs else None,
        data_version=run.data_line(),
        drift=tuple(describe_drift(measured.drift, measured.metric)) if measured else (),
        drift_report=_evidence(measured.report, measured.run_id) if measured else None,
        decision=MONITORING_ONLY if outcome is Outcome.MONITORED else decided,
        candidates=tuple(rows),
        promotion=promotion,
        registry=tuple(moves),
        dispatch=run.dispatched.note if run.dispatched else None,
        model_card=_evidence(card_page, run.challenger.run_id)
        if card_page and run.challenger
        else None,
        metric=measured.metric if measured else "",
        value=measured.drift.realized.get(measured.metric) if measured else None,
        estimated=measured.drift.estimated.get(measured.metric) if measured else None,
        seconds=dict(run.clock.seconds),
    )


def _evidence(where: str | Path, run_id: str = "") -> Evidence:
    """A record's link target, a local one shown relative to the working directory."""
    local = Evidence(str(where)).path
    return Evidence(relative(local) if local else str(where), run_id)


def _card(run: Run) -> str | None:
    """The model card the run logged with its challenger, if it registered one.

    The card logged to MLflow is shown as it is (one rendering, one creation time); one the run
    never got to log is rendered here.
    """
    if run.card is not None:
        return run.card
    if run.challenger and run.training and run.evaluation and run.promotion and run.action:
        return model_card(run)
    return None


def model_card(run: Run) -> str:
    """The model card of the run's freshly registered challenger (after the registry acted)."""
    version, result, evaluation = run.challenger, run.training, run.evaluation
    decision, action, spec = run.promotion, run.action, run.dataset
    assert version and result and evaluation and decision and action  # set by the flow first
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
            awaiting=action.awaiting,
            not_servable=run.served.reason if run.served and not run.served.servable else None,
            champion_version=run.production.version if run.production else None,
            retrain_reasons=run.decision.reasons if run.decision else (),
            # The report as the monitoring run keeps it: a location that resolves wherever the
            # tracking store does, not a path on this machine.
            drift_report=(
                tasks.artifact_location(
                    run.settings.mlflow, run.measured.run_id, report_artifact(run.measured.report)
                )
                if run.measured and run.measured.run_id
                else None
            ),
            slice_table=render_slice_table(evaluation.slices) if evaluation.slices else None,
            tuning=result.tuning,
            inputs=list(spec.served_columns),
            derived={name: feature.describe() for name, feature in spec.derived.items()},
            git_commit=version.tags.get("driftloop.git_commit"),
            data_revision=version.tags.get(params.REVISION_TAG, ""),
            data_remote=version.tags.get(params.REMOTE_TAG, ""),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
    )


def relative(path: Path) -> str:
    """`path` relative to the working directory when inside it, else absolute."""
    resolved, cwd = path.resolve(), Path.cwd().resolve()
    return (resolved.relative_to(cwd) if resolved.is_relative_to(cwd) else resolved).as_posix()
