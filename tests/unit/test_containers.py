"""The Dockerfile and the workflows lint clean, and cd.yml builds what the Dockerfile defines."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[2]
DOCKERFILE = ROOT / "Dockerfile"
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
STAGE = re.compile(r"^FROM\s+\S+\s+AS\s+(\S+)", re.IGNORECASE)


def venv_tool(name: str) -> str:
    # The dev dependencies put the binaries next to the interpreter running the tests.
    tool = shutil.which(name, path=str(Path(sys.executable).parent))
    assert tool is not None, f"{name} is missing: `uv sync` installs it with the dev dependencies"
    return tool


def stages() -> dict[str, list[str]]:
    """Each named stage's instructions, continuation lines joined."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    found: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if match := STAGE.match(line):
            current = found.setdefault(match.group(1), [])
        elif line.strip() and not line.lstrip().startswith("#"):
            current.append(line.strip())
    return found


def build_step() -> dict[str, Any]:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "cd.yml").read_text())
    steps = workflow["jobs"]["ship"]["steps"]
    [step] = [s for s in steps if s.get("uses", "").startswith("docker/build-push-action@")]
    return step["with"]


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [venv_tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_pass_actionlint() -> None:
    result = subprocess.run(
        [venv_tool("actionlint"), *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_default_target_runs_the_flow() -> None:
    last = list(stages().values())[-1]

    assert 'CMD ["python", "src/pipeline/flows.py"]' in last


def test_cd_builds_a_serve_stage_that_takes_its_build_args() -> None:
    build = build_step()
    passed = {line.split("=", 1)[0] for line in build["build-args"].splitlines()}
    serve = stages()[build["target"]]
    declared = {line.split()[1].split("=")[0] for line in serve if line.startswith("ARG ")}

    assert passed == {"MODEL_NAME", "MODEL_VERSION"}
    assert passed <= declared
    assert 'ENV MODEL_URI="models:/${MODEL_NAME}/${MODEL_VERSION}"' in serve
    assert any(line.startswith("CMD ") and '\\"$MODEL_URI\\"' in line for line in serve)
