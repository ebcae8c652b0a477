"""Every command the README shows is one a fresh clone can run as written, after `make run`.

tests/integration/test_readme_in_order.py runs them all, in order (`make readme`); these checks
are the quick part: the right programs, real targets, arguments that parse, files that exist.
"""

from __future__ import annotations

import re
import subprocess

import pytest
from readme import ROOT, readme_commands

from pipeline.cli import build_parser

COMMANDS = readme_commands()
# What `make run` writes: the README's commands may name these before they exist.
MADE_BY_THE_DEMO = ("data/incoming/", "data/reference/", "data/predictions/", "reports/")
TOOLS = {"make", "export", "curl"}


def _ids(commands: list) -> list[str]:
    return [f"README:{c.line}" for c in commands]


def test_the_readme_has_commands_to_check() -> None:
    assert len(COMMANDS) > 30
    assert {c.program for c in COMMANDS} >= {"make", ".venv/bin/driftloop", ".venv/bin/prefect"}


@pytest.mark.parametrize("command", COMMANDS, ids=_ids(COMMANDS))
def test_every_command_runs_from_the_project_environment(command) -> None:
    # `uv run` would re-check 39,000 bytecode files per command; a bare `driftloop` needs an
    # activated environment the README does not assume.
    if command.program in TOOLS:
        return
    assert command.program.startswith(".venv/bin/"), command.text
    assert (ROOT / command.program).exists(), f"{command.program} is not installed by make"


MAKE = [c for c in COMMANDS if c.program == "make"]


@pytest.mark.parametrize("command", MAKE, ids=_ids(MAKE))
def test_every_make_target_exists(command) -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-zA-Z][\w-]*):", makefile, flags=re.MULTILINE))
    assert set(command.argv[1:]) <= targets, command.text


DRIFTLOOP = [c for c in COMMANDS if c.program == ".venv/bin/driftloop"]


@pytest.mark.parametrize("command", DRIFTLOOP, ids=_ids(DRIFTLOOP))
def test_every_driftloop_command_parses(command, capsys: pytest.CaptureFixture[str]) -> None:
    words = [w for w in command.argv[1:] if w != "&"]
    try:
        build_parser().parse_args(words)
    except SystemExit as stop:  # --help and --version leave with 0; a usage error with 2
        assert stop.code == 0, capsys.readouterr().err
    for word in words:
        named = ROOT / word
        if "/" in word and not word.startswith(MADE_BY_THE_DEMO) and not word.startswith("-"):
            assert named.exists(), f"{command.text}: {word} does not exist in a fresh clone"


SCRIPTS = [c for c in COMMANDS if c.program == ".venv/bin/python"]


@pytest.mark.parametrize("command", SCRIPTS, ids=_ids(SCRIPTS))
def test_every_script_exists(command) -> None:
    assert (ROOT / command.argv[1]).is_file(), command.text


HELP = [c for c in DRIFTLOOP if "--help" in c.argv or "--version" in c.argv]


@pytest.mark.parametrize("command", HELP, ids=_ids(HELP))
def test_the_help_commands_run_as_written(command) -> None:
    done = subprocess.run(
        ["bash", "-c", command.text],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_the_parser_sees_continued_and_quoted_lines() -> None:
    text = "```bash\nA=1 .venv/bin/x --a 'b\nc' \\\n  --d # note\n```\n"
    (command,) = readme_commands(text)
    assert command.env == ("A=1",)
    assert command.argv == (".venv/bin/x", "--a", "b\nc", "--d")
