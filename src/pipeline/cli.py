"""The `driftloop` command line: the same functions the flows call.

Heavy libraries are imported only by the sub-command that needs them, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import approvals, console
from pipeline.arguments import build_parser, verbosity

__all__ = ["build_parser", "main", "run", "start_temporary_server"]

# Commands that run flows (and so need a Prefect server).
FLOW_COMMANDS = frozenset({"run", "monitor", "score", "demo", "simulate"})
IMPORT_WAIT_SECONDS = 30.0
INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C

if TYPE_CHECKING:
    from config.settings import Settings


def start_temporary_server() -> Callable[[], None]:
    """Boot Prefect's temporary server in the background when this run will need one.

    Without a configured server, Prefect starts a temporary one (in its own process) at the first
    flow call, after this process has spent seconds importing the stage libraries. Starting it
    first lets the two overlap, so a one-shot run waits for the longer of them, not for both.

    Returns:
        A function that waits until the server is up (a no-op when none is needed).
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return lambda: None
    imported = threading.Event()
    booting = threading.Thread(target=_start_quietly, args=(imported,), daemon=True)
    booting.start()
    # Prefect's server module loads alone: loading it beside the stage libraries (which share
    # the interpreter lock) held the server process back by a second or more.
    imported.wait(timeout=IMPORT_WAIT_SECONDS)
    return booting.join


def _start_quietly(imported: threading.Event) -> None:
    try:
        from prefect.server.api.server import SubprocessASGIServer
    finally:
        imported.set()
    # A failed start resets the server object; the flow call then starts it and reports why.
    with contextlib.suppress(Exception):
        SubprocessASGIServer().start()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `driftloop` console script.

    Returns:
        The exit status: 0 done, 1 a rejected batch or a failed run, 2 a mistake in the
        command, a setting or the spec (one line naming it and the fix).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    args.verbosity = loudness = verbosity(parser, args)
    from config.errors import ConfigError
    from data_validation.errors import DataValidationError

    try:
        return _main(args)
    except ConfigError as exc:
        return console.report_mistake(exc, loudness)
    except DataValidationError as exc:  # a rejected batch: its verdict and failed checks
        return console.report_rejection(exc, exc.failures, loudness)
    except Exception as exc:  # noqa: BLE001 - the last word of a command line: one line, exit 1
        return console.report_unexpected(exc, loudness)


def _main(args: argparse.Namespace) -> int:
    from config.settings import get_settings

    settings = get_settings()
    check_first(settings, args)
    if args.command in FLOW_COMMANDS:
        console.prepare_libraries(args.verbosity)
        server_ready = start_temporary_server()
        import pipeline.flows  # noqa: F401 - the stage libraries load while the server boots

        console.quiet_libraries(args.verbosity)
        server_ready()
    runners: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
        "run": _run,
        "monitor": _monitor,
        "simulate": _simulate,
        "score": _score,
        "suite": _suite,
        "demo": _demo,
        "history": _history,
        "rollback": _rollback,
        "approve": approvals.approve,
        "reject": approvals.reject,
        "data": _data,
        "split": _split,
    }
    return runners[args.command](settings, args)


def check_first(settings: Settings, args: argparse.Namespace) -> None:
    """Check what the command names before Prefect or any stage library is loaded.

    Raises:
        ConfigError: the first mistake found, with its fix.
    """
    from pipeline import preflight

    command = args.command
    if command in {"run", "monitor", "score"}:
        batch = None if args.batch is None else str(args.batch)
        spec, scoring = _text(args.spec), command == "score"
        preflight.check_run_inputs(settings, spec=spec, batch=batch, scoring=scoring)
    elif command == "suite":
        preflight.checked_spec(settings, _text(args.spec))
    elif command == "simulate":
        preflight.check_replay_inputs(args.spec, args.batches, args.out)
    elif command == "split":
        preflight.check_split_inputs(settings, args.spec, args.file)
    elif command == "demo":
        preflight.check_demo_consent(settings, Path.cwd(), yes=args.yes)
    elif getattr(args, "model", None) is None:  # history, rollback, approve, reject, data
        from config.spec import load_spec

        load_spec(args.spec or settings.paths.spec)  # only the spec's name is read


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.flows import retraining_flow

    batch, force = _text(args.batch), args.force_retrain
    summary = retraining_flow(spec=_text(args.spec), batch=batch, force_retrain=force)
    print(f"{summary.batch or '-'}: {summary.outcome}: {summary.message}")
    return 0


def _monitor(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.flows import monitoring_flow

    summary = monitoring_flow(spec=_text(args.spec), batch=_text(args.batch))
    print(f"{summary.batch or '-'}: {summary.outcome}: {summary.message}")
    return 0


def _score(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline.flows import scoring_flow

    print(scoring_flow(batch=str(args.batch), spec=_text(args.spec), out=_text(args.out)))
    return 0


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    import pandas as pd

    from pipeline.flows import simulation_flow
    from runs.timeline import describe_replay, replay_figures

    summaries = simulation_flow(
        spec=str(args.spec), batches=str(args.batches), out=str(args.out), policy=args.policy
    )
    for s in summaries:
        value = f"{s.metric} {s.value:.4f}" if s.value is not None else "-"
        print(f"{s.batch}: {s.outcome} ({value}; signals: {', '.join(s.signals) or 'none'})")
    frame = pd.read_csv(args.out / "timeline.csv")
    print(describe_replay(replay_figures(frame)))
    print(f"timeline: {args.out / 'timeline.csv'}, {args.out / 'timeline.html'}")
    return 0


def _text(path: Path | None) -> str | None:
    return str(path) if path else None


def _suite(settings: Settings, args: argparse.Namespace) -> int:
    from config.spec import load_spec
    from data_validation.backtest import backtest_suite
    from data_validation.gate import ensure_suites, open_context
    from data_validation.suite import describe_variation, trending_columns, variation_rules
    from runs.batches import read_batch
    from runs.derived import derive

    spec = load_spec(args.spec or settings.paths.spec)
    reference = derive(read_batch(spec.reference, types=spec.column_types), spec)
    names = ensure_suites(
        open_context(settings.paths.gx_root), spec, lambda: reference, rebuild=True
    )
    print("derived suites: " + ", ".join(names))
    trending = trending_columns(spec, reference)
    if trending:
        print("no range check (the reference itself trends): " + ", ".join(trending))
    for line in describe_variation(variation_rules(spec, reference)):
        print(line)
    trial = backtest_suite(spec, reference)
    print(
        f"false rejections on the reference's own newer rows: {trial.rejected} of "
        f"{trial.batches} batches ({trial.false_rejection_rate:.0%})"
    )
    for failure in trial.broken:
        print(f"  would break: {failure}")
    return 0


def _split(settings: Settings, args: argparse.Namespace) -> int:
    """Cut a history file into the spec's reference and batches; nothing is overwritten."""
    from config.spec import load_spec
    from runs.batches import read_batch
    from runs.errors import BatchReadError
    from runs.split import SplitPlan, split_history, write_split

    spec = load_spec(args.spec or settings.paths.spec)
    plan = SplitPlan(args.reference_until, args.reference_fraction, args.every, args.rows)
    try:
        history = read_batch(args.file, types=spec.column_types)
        reference, batches = split_history(history, timestamp=spec.timestamp, plan=plan)
        written = write_split(
            reference, batches, reference_path=spec.reference, incoming=spec.incoming
        )
    except BatchReadError as exc:
        return console.report_mistake(exc, args.verbosity)
    sizes = ", ".join(str(len(b)) for b in batches)
    print(f"reference: {len(reference)} rows -> {written[0]}")
    print(f"{len(batches)} batches ({sizes} rows) -> {spec.incoming}")
    return 0


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    """Reset the demo's own state, materialize the demo data, run every batch; a line each.

    The marker written first vouches for what an interrupted demo leaves; the one written last
    records how the demo left each place, so the next demo can tell whether anything else has
    written there since.
    """
    from config.settings import get_settings
    from demo_data.workspace import reset_local_state, write_demo_marker

    # Parallel tuning trials finish in a varying order; one at a time, every demo run prints
    # the same outcomes (unless the user chose otherwise).
    os.environ.setdefault("DRIFTLOOP_TRAINING__TUNING_JOBS", "1")
    # DVC still tracks what the demo quarantines, but the pointer is not committed: the next
    # demo removes the quarantine it made, which would leave deleted files in your git status.
    # (The demo's batches are a stage output, committed in dvc.lock already.)
    os.environ.setdefault("DRIFTLOOP_DATA__COMMIT", "false")
    if args.dataset == "reviews":
        # A trial on 2,000 reviews' TF-IDF takes 4-9 s on 2 cores: the 60 s budget ran out
        # after 15 of 25 (so the outcomes hung on the machine's speed) for a log-loss gain of
        # 0.013. Untuned, the demo runs in about 70 s and prints the same lines everywhere.
        os.environ.setdefault("DRIFTLOOP_TRAINING__TUNING_TRIALS", "0")
    get_settings.cache_clear()
    home = Path.cwd()
    reset_local_state(settings.paths, settings.mlflow)
    write_demo_marker(settings.paths, settings.mlflow, home, finished=False)
    try:
        _demo_batches(settings, home, args.verbosity, args.dataset)
    finally:
        write_demo_marker(settings.paths, settings.mlflow, home, finished=True)
    return 0


def _demo_batches(settings: Settings, home: Path, loudness: int, dataset: str) -> None:
    from config.spec import load_spec
    from data_validation.errors import DataValidationError
    from demo_data.workspace import demo_spec, materialize_demo_data, write_demo_marker
    from pipeline.flows import retraining_flow
    from runs.batches import list_batches

    how = materialize_demo_data(home, dataset)
    write_demo_marker(settings.paths, settings.mlflow, home, finished=False)
    # The demo's own spec, whatever DRIFTLOOP_PATHS__SPEC names: it never runs a user's batches.
    spec_path = demo_spec(dataset)
    spec = load_spec(spec_path)
    batches = list_batches(spec.incoming)
    if loudness > console.QUIET:
        print(f"demo data: {how}; {len(batches)} batches in {spec.incoming}")
    for batch in batches:
        try:
            summary = retraining_flow(spec=str(spec_path), batch=str(batch))
        except DataValidationError as exc:
            broken = f"{len(exc.failures)} broken expectations"
            print(f"{batch.name}: rejected, {broken}, quarantined to {exc.quarantined_to}")
        else:
            shown = summary.production_version or "-"
            print(f"{batch.name}: {summary.outcome}: {summary.message} [production v{shown}]")
        # After each batch: a demo killed later vouches for no more than it had finished.
        write_demo_marker(settings.paths, settings.mlflow, home, finished=False)


def _history(settings: Settings, args: argparse.Namespace) -> int:
    """Print the model's alias moves, oldest first, and where the aliases point now."""
    from config.settings import redact_url
    from config.spec import load_spec
    from registry import tracking
    from registry.rollback import describe_history

    name = load_spec(args.spec or settings.paths.spec).name
    client = tracking.connect(settings.mlflow.tracking_uri)
    promotion = settings.promotion
    lines = describe_history(client, name, promotion.production_alias, promotion.candidate_alias)
    where = redact_url(settings.mlflow.tracking_uri)
    print("\n".join(lines) or f"{name}: no alias moves recorded in {where}")
    return 0


def _data(settings: Settings, args: argparse.Namespace) -> int:
    """Print what a version was trained on and where it is now; --restore writes it out."""
    from pipeline import data_command

    return data_command.show(settings, args)


def _rollback(settings: Settings, args: argparse.Namespace) -> int:
    """Move production back and tell CD, as a release does (no Prefect server is started)."""
    console.prepare_libraries(args.verbosity)  # the data check downloads: no progress bar
    import httpx

    from config.spec import load_spec
    from delivery.delivered import tell_cd_once
    from delivery.errors import DispatchError
    from delivery.notify import Notification
    from pipeline import params
    from pipeline.outcomes import announce
    from registry import tracking
    from registry.errors import RollbackError
    from registry.models import RegisteredVersion
    from registry.release import Release
    from registry.rollback import roll_back_and_dispatch

    name = load_spec(args.spec or settings.paths.spec).name
    client = tracking.connect(settings.mlflow.tracking_uri)

    def to_cd(release: Release, version: RegisteredVersion) -> str:
        request = params.dispatch_request(settings, version, release)
        dry_run = params.dry_run_path(settings)
        return tell_cd_once(client, release, request, settings.github, dry_run_path=dry_run).note

    try:
        with params.release_lock(settings, name):
            done = roll_back_and_dispatch(
                client,
                name=name,
                to_version=args.to_version,
                reason=args.reason,
                actor=params.actor(),
                aliases=params.aliases(settings),
                dispatch=to_cd,
            )
    except RollbackError as exc:
        print(console.error_line(str(exc)), file=sys.stderr)
        return 1
    except (DispatchError, httpx.TransportError) as exc:
        told = (
            f"production moved, but CD was not told: {exc}; the release stays open and the "
            "next run or `driftloop rollback` sends it"
        )
        print(console.error_line(told), file=sys.stderr)
        return 1
    if done.resent:
        print(f"sent the rollback to v{done.release.to_version} that CD had not been told of")
    if done.superseded:
        open_one = done.superseded
        print(f"the unfinished {open_one.action} to v{open_one.to_version} was superseded")
    back = done.release
    event = Notification(
        "model_rolled_back",
        name,
        back.reason,
        model_version=back.to_version,
        previous_version=back.from_version,
        details={"by": back.actor, "CD": done.note},
    )
    announce(settings, event)
    print(
        f"{name}: production v{back.from_version} -> v{back.to_version} (rollback); CD: {done.note}"
    )
    from pipeline.data_command import rollback_data_check  # after the move: it never blocks it

    rollback_data_check(settings, client, name, back.to_version)
    return 0


def run() -> None:
    """The `driftloop` console script: `main`, then an exit that skips the interpreter teardown.

    The teardown takes ~2 s once GE, Evidently and MLflow are loaded. A hook registered first
    runs last: by then Python has joined the threads and run every other exit hook (the
    temporary Prefect server stopped, its log and event workers flushed).
    """
    exit_code = [1]  # an uncaught exception leaves with 1, as Python would
    atexit.register(_leave, exit_code)
    try:
        exit_code[0] = main()
    except SystemExit as stop:  # argparse's --help and usage errors
        exit_code[0] = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        raise
    except KeyboardInterrupt:
        exit_code[0] = INTERRUPTED
        raise
    sys.exit(exit_code[0])


def _leave(exit_code: list[int]) -> None:
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code[0])


if __name__ == "__main__":
    run()
