"""The README's commands, run in order in a copy of the project, as a new user would.

Run with `make readme`: it takes about ten minutes on two cores, so `make test` leaves it out
(like the soak); the quick checks of the same commands are in tests/unit/test_readme.py.
Blocks the README marks `<!-- readme: not run (why) -->` are skipped, as are the test targets
(this is one of them).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from readme import README, Command, copy_project, readme_commands

pytestmark = [pytest.mark.readme, pytest.mark.integration]

THE_SUITE = {"test", "test-unit", "test-all", "soak", "all", "readme"}
COMMAND_SECONDS = 600
PORT_WAIT_SECONDS = 180
STOP_GRACE_SECONDS = 10
UTC_STAMP = r"[0-9]{8}T[0-9]+Z"


def _wait_for_port(command: Command) -> None:
    words = list(command.argv)
    port = int(words[words.index("--port") + 1]) if "--port" in words else None
    if port is None:
        time.sleep(2)
        return
    deadline = time.monotonic() + PORT_WAIT_SECONDS
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(1)
    pytest.fail(f"README:{command.line}: nothing listens on 127.0.0.1:{port}")


def _expected_demo_lines() -> list[str]:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"this is its output on this\s+machine:\s*```\n(.*?)```", text, re.DOTALL)
    assert found, "the README no longer shows the output of make run"
    return [line for line in found[1].splitlines() if line.strip()]


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    copy_project(tmp_path, "readme")
    yield tmp_path


def test_every_readme_command_in_order(project: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIFTLOOP_", "PREFECT_"))}
    env.pop("MLFLOW_TRACKING_URI", None)
    # The README's Prefect server keeps its database under PREFECT_HOME: the copy's own, never
    # the user's.
    env["PREFECT_HOME"] = str(project / ".prefect")
    exports: list[str] = []
    background: list[subprocess.Popen[bytes]] = []
    ran: list[str] = []
    try:
        for command in readme_commands():
            if command.not_run or (command.program == "make" and THE_SUITE & set(command.argv)):
                continue
            if command.program == "export":
                exports.append(command.text)
                continue
            script = "\n".join([*exports, command.text.removesuffix("&").rstrip()])
            if command.background:
                background.append(
                    subprocess.Popen(
                        ["bash", "-c", script],
                        cwd=project,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
                _wait_for_port(command)
                continue
            started = time.monotonic()
            done = subprocess.run(
                ["bash", "-c", script],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=COMMAND_SECONDS,
                check=False,
            )
            ran.append(f"README:{command.line} {time.monotonic() - started:.0f} s")
            assert done.returncode == 0, (
                f"README:{command.line}: {command.text}\nexit {done.returncode}\n"
                f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
            )
            if command.argv[:2] == ("make", "run"):
                printed = [line for line in done.stdout.splitlines() if line.startswith("batch-")]
                expected = [
                    re.escape(line).replace(re.escape("<UTC>"), UTC_STAMP)
                    for line in _expected_demo_lines()
                ]
                assert len(printed) == len(expected), printed
                for line, pattern in zip(printed, expected, strict=True):
                    assert re.fullmatch(pattern, line), f"README says:\n{pattern}\nprinted:\n{line}"
    finally:
        for process in background:  # each leads a process group of its own
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
            # The shell goes at once; a Prefect worker may outlive it, ignoring SIGTERM.
            time.sleep(STOP_GRACE_SECONDS)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        print("\n".join(ran))
