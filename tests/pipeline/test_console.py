"""The command line's console: its error lines and what the libraries may print at each level."""

from __future__ import annotations

import logging
import os
import sys
import tomllib
from pathlib import Path

import pytest
from prefect.logging import configuration
from prefect.logging.handlers import PrefectConsoleHandler

from pipeline import console
from pipeline.console import DEFAULT, QUIET, ConsoleFilter, WithoutTraceback

ROOT = Path(__file__).resolve().parents[2]


def _record(
    name: str, level: int, msg: str, *, error: BaseException | None = None
) -> logging.LogRecord:
    exc_info = (type(error), error, error.__traceback__) if error is not None else None
    return logging.LogRecord(name, level, __file__, 1, msg, None, exc_info)


def _raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:  # noqa: BLE001 - a record's exception, with its traceback
        return caught


def test_the_stage_loggers_are_the_ones_pyproject_sends_to_prefect() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extra = config["tool"]["prefect"]["logging"]["extra_loggers"]
    assert list(console.STAGE_LOGGERS) == extra


def test_a_message_of_several_lines_becomes_one() -> None:
    listed = "dataset spec s.yaml is invalid:\n  task: must be one of: binary\n  name: missing"
    assert console.one_line(listed) == (
        "dataset spec s.yaml is invalid: task: must be one of: binary; name: missing"
    )
    assert console.one_line("first line\n  second") == "first line; second"
    assert console.one_line("already one") == "already one"


def test_an_error_line_names_the_program_and_hides_url_passwords() -> None:
    line = console.error_line("cannot reach https://me:s3cret@mlflow.example/api\n  retry later")
    assert line == "driftloop: error: cannot reach https://me:***@mlflow.example/api; retry later"


def test_an_unexpected_error_is_one_line_with_the_hint_or_a_traceback_with_v(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = _raised(KeyError("dewpoint"))
    assert console.report_unexpected(error, DEFAULT) == 1
    err = capsys.readouterr().err
    assert err == ("driftloop: error: KeyError: 'dewpoint' (run again with -v for the traceback)\n")
    assert console.report_unexpected(error, console.VERBOSE) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.splitlines()[-1] == "driftloop: error: KeyError: 'dewpoint'"


def test_a_rejection_shows_its_verdict_and_a_short_list_of_failures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    failures = tuple(f"[c{i}] expect_column_to_exist: column missing" for i in range(11))
    message = "batch b.csv failed validation (11 broken expectations)\n  " + "\n  ".join(failures)
    assert console.report_rejection(ValueError(message), failures, DEFAULT, shown=3) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "driftloop: error: batch b.csv failed validation (11 broken expectations)"
    assert lines[1:4] == [f"  {f}" for f in failures[:3]]
    assert lines[4] == "  ... and 8 more in the decision record"
    assert len(lines) == 5


def test_the_default_console_drops_prefects_chatter_and_keeps_the_stage_lines() -> None:
    shown = ConsoleFilter(DEFAULT).filter
    assert not shown(_record("prefect.task_runs", logging.INFO, "Finished in state Completed()"))
    assert not shown(_record("prefect.flow_runs", logging.INFO, "Beginning flow run 'x'"))
    assert not shown(_record("prefect", logging.INFO, "Stopping temporary server on http://..."))
    assert shown(_record("model_monitoring.drift", logging.INFO, "drift: 3 of 8 columns"))
    assert shown(_record("delivery.request", logging.WARNING, "no GitHub token"))
    assert shown(_record("prefect.flow_runs", logging.WARNING, "columns not used"))
    retry = "Task run failed with %s: %r - Retry %s/%s will start %s"
    assert shown(_record("prefect.task_runs", logging.INFO, retry))


def test_an_exception_that_ends_a_run_is_left_to_the_command_line_below_v() -> None:
    error = _raised(RuntimeError("batch b.csv failed validation"))
    ended = _record(
        "prefect.flow_runs",
        logging.ERROR,
        "Encountered exception during execution: %r",
        error=error,
    )
    failed = _record(
        "prefect.task_runs", logging.ERROR, "Task run failed with exception", error=error
    )
    hook = _record("prefect.flow_runs", logging.ERROR, "An error in hook 'notify'", error=error)
    for verbosity in (QUIET, DEFAULT):
        assert not ConsoleFilter(verbosity).filter(ended)
        assert not ConsoleFilter(verbosity).filter(failed)
    assert ConsoleFilter(DEFAULT).filter(hook)


def test_quiet_keeps_driftloops_warnings_and_every_error() -> None:
    shown = ConsoleFilter(QUIET).filter
    assert not shown(_record("model_monitoring.drift", logging.INFO, "drift: 3 of 8 columns"))
    # A cron job on -q still learns that its alerts are not delivered.
    assert shown(_record("delivery.notify", logging.WARNING, "notification not delivered"))
    assert not shown(_record("prefect.server", logging.WARNING, "the server is slow"))
    assert shown(_record("registry.release", logging.ERROR, "the alias did not move"))
    assert shown(_record("prefect.flow_runs", logging.ERROR, "the flow crashed"))


def test_the_console_format_leaves_the_traceback_out_for_other_handlers_to_keep() -> None:
    error = _raised(ValueError("bad value"))
    record = _record("training.fit", logging.ERROR, "fit failed", error=error)
    plain = logging.Formatter("%(levelname)s %(message)s")
    assert WithoutTraceback(plain).format(record) == "ERROR fit failed"
    assert "Traceback" in plain.format(record)


def test_quiet_libraries_filters_prefects_console_handler_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler = PrefectConsoleHandler(stream=sys.stderr)
    original = logging.Formatter("%(message)s")
    handler.setFormatter(original)
    monkeypatch.setattr(configuration, "ensure_logging_setup", lambda: None)
    monkeypatch.setattr(logging.getLogger(), "handlers", [handler])
    console.quiet_libraries(DEFAULT)
    console.quiet_libraries(QUIET)
    filters = [f for f in handler.filters if isinstance(f, ConsoleFilter)]
    assert [f.verbosity for f in filters] == [QUIET]
    assert isinstance(handler.formatter, WithoutTraceback)
    console.quiet_libraries(console.VERBOSE)
    assert handler.filters == [] and handler.formatter is original


def test_the_library_switches_are_set_only_where_the_user_set_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Set, then removed: monkeypatch undoes only what it changed, and the switches are set here.
    for name in ("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "PREFECT_LOGGING_LEVEL"):
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_LOGGING_LEVEL", "INFO")
    console.prepare_libraries(DEFAULT)
    assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"
    assert os.environ["MLFLOW_LOGGING_LEVEL"] == "INFO"
    assert "PREFECT_LOGGING_LEVEL" not in os.environ
    console.prepare_libraries(console.DEBUG)
    assert os.environ["PREFECT_LOGGING_LEVEL"] == "DEBUG"


def test_quiet_leaves_out_other_libraries_warnings() -> None:
    assert not ConsoleFilter(QUIET).filter(_record("urllib3.connectionpool", logging.WARNING, "x"))


def test_a_run_from_a_users_folder_gets_the_projects_prefect_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in console.PREFECT_DEFAULTS}
    environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "300"  # the user's own
    monkeypatch.setattr(console.os, "environ", environ)  # nothing leaks into other tests
    monkeypatch.chdir(tmp_path)
    console.prepare_libraries(DEFAULT)
    assert environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] == "300"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    server = pyproject["tool"]["prefect"]["server"]
    assert {
        "PREFECT_SERVER_ANALYTICS_ENABLED": str(server["analytics_enabled"]).lower(),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(
            server["ephemeral"]["startup_timeout_seconds"]
        ),
    } == console.PREFECT_DEFAULTS


def test_a_folder_that_configures_prefect_keeps_its_own_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in console.PREFECT_DEFAULTS}
    monkeypatch.setattr(console.os, "environ", environ)
    (tmp_path / "pyproject.toml").write_text("[tool.prefect.server]\nanalytics_enabled = true\n")
    monkeypatch.chdir(tmp_path)
    console.prepare_libraries(DEFAULT)
    assert "PREFECT_SERVER_ANALYTICS_ENABLED" not in environ
