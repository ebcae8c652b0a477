"""What the `driftloop` command prints: its error lines and how much the libraries may say.

The default console is one line per stage (the stage packages' INFO lines) and one per batch.
Prefect's per-task and flow-run chatter, MLflow's progress bars and messages, and tracebacks
are shown with `-v`; `-q` leaves only the per-batch lines, driftloop's warnings and errors.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from config.settings import redact_credentials

QUIET, DEFAULT, VERBOSE, DEBUG = -1, 0, 1, 2
PROG = "driftloop"
# The stage packages whose INFO lines are the default console. pyproject.toml names the same
# ones in [tool.prefect.logging] extra_loggers (a test keeps the two equal); this copy serves a
# run from a folder without that file.
STAGE_LOGGERS = (
    "compute",
    "config",
    "evaluation",
    "data_validation",
    "model_monitoring",
    "training",
    "registry",
    "delivery",
    "runs",
    "demo_data",
)
ENGINE_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")
# What pyproject.toml's [tool.prefect] sets, for a run from a folder without it: no analytics
# sent to Prefect's makers, and time for the temporary server to start on a busy machine.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}
# The engines' own report of an exception that ends a task or flow run: the command reports it
# (one line), or the flow handled it (a challenger that could not be trained).
ENGINE_EXCEPTIONS = ("Encountered exception during execution", "Task run failed with")
SHOWN_FAILURES = 8
# The loggers MLflow gives a handler of its own when it is imported.
MLFLOW_LOGGERS = ("mlflow", "alembic", "huey", "sqlalchemy.engine")


def error_line(message: str) -> str:
    """`driftloop: error: <message>` on one line, any URL password in it hidden."""
    return f"{PROG}: error: {one_line(redact_credentials(message))}"


def one_line(message: str) -> str:
    """A message of several lines (a heading and an indented list) joined into one."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if len(lines) <= 1:
        return "".join(lines)
    head, rest = lines[0], "; ".join(lines[1:])
    return f"{head} {rest}" if head.endswith(":") else f"{head}; {rest}"


def report_mistake(error: Exception, verbosity: int) -> int:
    """Print a user mistake (a wrong setting, spec, file or flag) as one line; returns 2."""
    _traceback_if_verbose(error, verbosity)
    print(error_line(str(error)), file=sys.stderr)
    return 2


def report_rejection(
    error: Exception, failures: Sequence[str], verbosity: int, *, shown: int = SHOWN_FAILURES
) -> int:
    """Print a rejected batch: its verdict line and its first failed checks; returns 1."""
    _traceback_if_verbose(error, verbosity)
    message = str(error)
    head = message.splitlines()[0] if message else "the batch failed validation"
    lines = [error_line(head), *(f"  {f}" for f in failures[:shown])]
    if len(failures) > shown:
        lines.append(f"  ... and {len(failures) - shown} more in the decision record")
    print("\n".join(lines), file=sys.stderr)
    return 1


def report_unexpected(error: BaseException, verbosity: int) -> int:
    """Print an error the command did not expect: its type and message; returns 1."""
    _traceback_if_verbose(error, verbosity)
    hint = "" if verbosity >= VERBOSE else " (run again with -v for the traceback)"
    text = one_line(redact_credentials(str(error))) or "(no message)"
    print(f"{PROG}: error: {type(error).__name__}: {text}{hint}", file=sys.stderr)
    return 1


def _traceback_if_verbose(error: BaseException, verbosity: int) -> None:
    if verbosity >= VERBOSE:
        traceback.print_exception(error)


def prepare_libraries(verbosity: int) -> None:
    """Set the console switches Prefect and MLflow read when they are imported.

    Only variables the user has not set are set: an explicit `PREFECT_LOGGING_LEVEL` or
    `MLFLOW_LOGGING_LEVEL` wins.
    """
    if not _prefect_configured_here():
        # pyproject.toml's [tool.prefect] holds these for a run from the project; a run from a
        # folder of the user's (their own project) gets them here, unless set already.
        for name, value in PREFECT_DEFAULTS.items():
            os.environ.setdefault(name, value)
    if verbosity >= DEBUG:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "DEBUG")
    if verbosity < VERBOSE:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        # MLflow's INFO lines (creating the database tables, validating the input example) and
        # the warning that a uv environment has no pip say nothing about this run's decisions.
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")


def _prefect_configured_here() -> bool:
    """Whether the working directory configures Prefect (prefect.toml or [tool.prefect])."""
    here = Path.cwd()
    if (here / "prefect.toml").is_file():
        return True
    project = here / "pyproject.toml"
    try:
        return project.is_file() and "[tool.prefect" in project.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def quiet_libraries(verbosity: int) -> None:
    """Filter Prefect's console handler and MLflow's printed messages (once both are loaded).

    Prefect's handlers still send every record to its API: only the console is filtered.
    """
    # Imported here: the command line loads this module before it knows Prefect is needed.
    from prefect.logging.configuration import ensure_logging_setup  # noqa: PLC0415
    from prefect.logging.handlers import PrefectConsoleHandler  # noqa: PLC0415

    ensure_logging_setup()
    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler):
            _filter_console(handler, verbosity)
    if "mlflow" in sys.modules:
        _show_mlflow_messages(verbosity >= VERBOSE)


def _filter_console(handler: logging.Handler, verbosity: int) -> None:
    for old in [f for f in handler.filters if isinstance(f, ConsoleFilter)]:
        handler.removeFilter(old)
    formatter = handler.formatter
    if isinstance(formatter, WithoutTraceback):
        handler.setFormatter(formatter.inner)
    if verbosity >= VERBOSE:
        return
    handler.addFilter(ConsoleFilter(verbosity))
    handler.setFormatter(WithoutTraceback(handler.formatter or logging.Formatter()))


def _show_mlflow_messages(shown: bool) -> None:
    # MLflow prints "Successfully registered model" and "Created version" with `eprint` to the
    # stream its loggers also write to: the loggers move to stderr itself, so their errors still
    # show, and the stream (now eprint's alone) is turned off.
    from mlflow.utils import logging_utils  # noqa: PLC0415 - loaded already, by the flows

    stream = logging_utils.MLFLOW_LOGGING_STREAM
    for name in MLFLOW_LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is stream:
                handler.setStream(sys.stderr)
    if shown:
        logging_utils.enable_logging()
    else:
        logging_utils.disable_logging()


class ConsoleFilter(logging.Filter):
    """Which records the console shows at a verbosity below `-v`."""

    def __init__(self, verbosity: int) -> None:
        """Filter for `verbosity` (QUIET or DEFAULT)."""
        super().__init__()
        self.verbosity = verbosity

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether the console shows `record`."""
        engine = record.name.startswith(ENGINE_LOGGERS)
        if engine and record.exc_info and str(record.msg).startswith(ENGINE_EXCEPTIONS):
            return False
        prefect = record.name == "prefect" or record.name.startswith("prefect.")
        if self.verbosity <= QUIET:
            # driftloop's own warnings (a notification not delivered, a lost promotion race)
            # are news even to a cron job; Prefect's are about its own machinery.
            ours = record.name.split(".", 1)[0] in STAGE_LOGGERS
            return record.levelno >= logging.ERROR or (record.levelno >= logging.WARNING and ours)
        if record.levelno >= logging.WARNING:
            return True
        if engine:  # a retry notice is the one line worth seeing while a task waits
            return record.name.startswith("prefect.task_runs") and _is_retry(record)
        return not prefect


def _is_retry(record: logging.LogRecord) -> bool:
    return str(record.msg).startswith(ENGINE_EXCEPTIONS[1]) and "Retry" in str(record.msg)


class WithoutTraceback(logging.Formatter):
    """Format a record as `inner` does, without its traceback or stack (they come with `-v`)."""

    def __init__(self, inner: logging.Formatter) -> None:
        """Wrap `inner`, the handler's own formatter."""
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        """The record's line(s), its exception left out (other handlers still see it)."""
        kept = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = kept
