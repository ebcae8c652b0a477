"""The shell commands the README tells a user to run, read from its ```bash blocks.

A block preceded by `<!-- readme: not run (why) -->` is checked but not run in order by the
README test (it needs servers of the reader's own, or runs for many minutes).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NOT_RUN = re.compile(r"<!-- readme: not run \((?P<why>[^)]+)\) -->")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Command:
    """One command line of the README (continuation lines joined).

    Attributes:
        line: Its first line number in the README.
        text: The command as written (its comment too: bash runs it as is).
        argv: Its words, after any leading `NAME=value` assignments.
        env: Those assignments.
        not_run: Why its block is not run in order, or None.
    """

    line: int
    text: str
    argv: tuple[str, ...]
    env: tuple[str, ...]
    not_run: str | None

    @property
    def background(self) -> bool:
        """Whether the README starts it in the background (`… &`)."""
        return bool(self.argv) and self.argv[-1] == "&"

    @property
    def program(self) -> str:
        """The program it runs (`make`, `.venv/bin/driftloop`, `export`, ...)."""
        return self.argv[0] if self.argv else ""


def readme_commands(text: str | None = None) -> list[Command]:
    """Every command line of the README's ```bash blocks, in order."""
    lines = (README.read_text(encoding="utf-8") if text is None else text).splitlines()
    commands: list[Command] = []
    in_block, not_run, pending, start = False, None, "", 0
    previous = ""
    for number, raw in enumerate(lines, start=1):
        if not in_block:
            if raw.strip() == "```bash":
                in_block = True
                marker = NOT_RUN.search(previous)
                not_run = marker["why"] if marker else None
            if raw.strip():
                previous = raw
            continue
        if raw.strip() == "```":
            in_block, previous = False, ""
            continue
        if not pending:
            start = number
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        written = (pending + raw).strip()
        try:
            words = shlex.split(written, comments=True)
        except ValueError:  # a quoted argument goes on over the next line
            pending = written + "\n"
            continue
        pending = ""
        if not words:
            continue
        env = []
        while words and ASSIGNMENT.match(words[0]):
            env.append(words.pop(0))
        commands.append(Command(start, written, tuple(words), tuple(env), not_run))
    return commands


# Run state a demo in this checkout leaves that git does not ignore (the uncommitted DVC pointer
# of its quarantine): not part of the project a clone would get.
RUN_STATE = ("data/quarantine/",)


def copy_project(target: Path, author: str) -> None:
    """The project as a clone with this checkout's edits has it, with this checkout's tools.

    Tracked and new files are copied (mtimes kept: make sees `.venv` as up to date); run state
    is not. The copy is a git repository of its own, as a clone is (DVC needs one).
    """
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    tracked = set(
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if name not in tracked and name.startswith(RUN_STATE):
            continue
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    for tool in (".venv", ".tools"):
        if (ROOT / tool).exists():
            (target / tool).symlink_to(ROOT / tool)
    git = ["git", "-c", f"user.name={author}", "-c", f"user.email={author}@localhost"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "the project as tested"]):
        subprocess.run([*git, *step], cwd=target, check=True, capture_output=True)
