"""The flows: retraining (one batch through the loop), monitoring, scoring, simulation (replay)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from prefect import flow, get_run_logger

from config.settings import PolicyName, Settings, get_settings
from config.spec import DatasetSpec, load_spec
from data_validation.errors import DataValidationError
from pipeline import challenger, shipping, stages, tasks
from pipeline.context import RunContext, RunSummary, ScoringSummary, finish, show_stage_logs
from pipeline.notices import notify_failed_run
from pipeline.replay import copy_batches, isolated_settings
from pipeline.scoring import score_file
from runs.batches import BatchFile
from runs.timeline import write_timeline


@flow(name="retraining", on_failure=[notify_failed_run])
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
    show_stage_logs()
    dataset = load_spec(Path(spec) if spec else settings.paths.spec)
    with shipping.run_lock(settings, dataset.name):
        with shipping.promotion_lock(settings, dataset.name):
            shipping.complete_interrupted(
                challenger.mlflow_client(settings),
                settings,
                dataset.name,
                challenger.deliver(settings),
            )
        pending = tasks.find_batch(dataset, settings.paths.ledger, Path(batch) if batch else None)
        if pending is None:
            where = (
                f"{batch} was already processed" if batch else f"nothing new in {dataset.incoming}"
            )
            get_run_logger().info("no new batch: %s", where)
            return RunSummary(None, "no new batch", where)
        return process_batch(settings, dataset, pending, force=force_retrain)


@flow(name="monitoring", on_failure=[notify_failed_run])
def monitoring_flow(spec: str | None = None, batch: str | None = None) -> RunSummary:
    """Validate and measure the next batch (or `batch`) and write its record; never trains.

    A batch that fails validation is quarantined as in the retraining flow. A measured batch is
    noted in the ledger as "monitored": later monitoring runs skip it, the retraining flow still
    processes it.

    Args:
        spec: Dataset spec YAML (default: settings `paths.spec`).
        batch: A specific batch file; default: the first one no run has handled yet.
    """
    settings = get_settings()
    show_stage_logs()
    dataset = load_spec(Path(spec) if spec else settings.paths.spec)
    pending = tasks.find_batch(
        dataset, settings.paths.ledger, Path(batch) if batch else None, monitoring=True
    )
    if pending is None:
        message = f"no unmonitored batch in {dataset.incoming}"
        get_run_logger().info("no new batch: %s", message)
        return RunSummary(None, "no new batch", message)
    run = RunContext(settings, dataset, pending)
    frame = stages.validate(run)
    production = tasks.get_production(
        settings.mlflow, dataset.name, settings.promotion.production_alias
    )
    stages.observe(run, stages.monitor(run, frame, production))
    return finish(
        run, "monitored", "measured; this run never trains", production, status="monitored"
    )


@flow(name="simulation")
def simulation_flow(
    spec: str, batches: str, out: str, policy: PolicyName | None = None
) -> list[RunSummary]:
    """Replay a history of batches through the real loop and write its timeline.

    Everything the replay touches lives under `out` (its own registry, ledger, GX results and
    reports); the batch files are copied first, so the originals are never moved.

    Args:
        spec: Dataset spec YAML; its reference is the starting training data.
        batches: Folder of batch files, replayed in name order.
        out: Output folder: `timeline.csv`, `timeline.png`, `timeline.html`, `reports/`.
        policy: A named retrain policy (default: the configured one).
    """
    show_stage_logs()
    root = Path(out).resolve()
    settings = isolated_settings(get_settings(), root, policy)
    dataset = load_spec(Path(spec)).model_copy(update={"incoming": root / "incoming"})
    copies = copy_batches(Path(batches), dataset.incoming)
    summaries = [_replay_one(settings, dataset, path) for path in copies]
    written = write_timeline([asdict(s) for s in summaries], root, policy=settings.policy.name)
    get_run_logger().info("simulation of %d batches written to %s", len(summaries), written)
    return summaries


@flow(name="scoring", on_failure=[notify_failed_run])
def scoring_flow(batch: str, spec: str | None = None, out: str | None = None) -> ScoringSummary:
    """Score a batch with the production model and feed its prediction drift into monitoring.

    The batch passes the same expectation suite as training batches (its unlabelled variant when
    it has no target); a failing batch is not scored. Predictions are written with the model
    version on every row. The batch is not recorded in the run ledger: scoring never trains.

    Args:
        batch: CSV or Parquet file to score.
        spec: Dataset spec YAML (default: settings `paths.spec`).
        out: Output file (`.parquet` or CSV); default: `<paths.predictions>/<batch>.v<N>.csv`.
    """
    settings = get_settings()
    show_stage_logs()
    dataset = load_spec(Path(spec) if spec else settings.paths.spec)
    summary = score_file(settings, dataset, Path(batch), Path(out) if out else None)
    get_run_logger().info("%s", summary)
    return summary


def process_batch(
    settings: Settings, dataset: DatasetSpec, pending: BatchFile, *, force: bool = False
) -> RunSummary:
    """Validate, monitor, decide, train, evaluate, promote and deliver for one batch."""
    run = RunContext(settings, dataset, pending)
    frame = stages.validate(run)
    production = tasks.get_production(
        settings.mlflow, dataset.name, settings.promotion.production_alias
    )
    recovered = stages.already_released(run, production)
    if recovered is not None:
        return recovered
    measured = stages.monitor(run, frame, production)
    decision = stages.decide(run, measured, production, force=force)
    if not decision.retrain:
        kept = "dry run" if decision.would_retrain else "kept production"
        return finish(run, kept, str(decision), production)
    return challenger.retrain(run, decision, production, measured)


def _replay_one(settings: Settings, dataset: DatasetSpec, path: Path) -> RunSummary:
    pending = tasks.find_batch(dataset, settings.paths.ledger, path)
    if pending is None:
        return RunSummary(path.name, "duplicate", "same content as an earlier batch: skipped")
    try:
        return process_batch(settings, dataset, pending)
    except DataValidationError as exc:
        return RunSummary(
            path.name,
            "rejected",
            f"{len(exc.failures)} broken expectations",
            decision="rejected",
            reasons=exc.failures,
        )


if __name__ == "__main__":
    retraining_flow()
