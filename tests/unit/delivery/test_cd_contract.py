"""The CD workflow reads only what the dispatcher sends, under the names it sends them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import GitHubSettings
from delivery.request import build_dispatch_request

CD_WORKFLOW = Path(__file__).parents[3] / ".github" / "workflows" / "cd.yml"
PAYLOAD_REF = re.compile(r"github\.event\.client_payload\.([A-Za-z_][\w-]*)")
INPUT_REF = re.compile(r"(?<![\w.])(?:github\.event\.)?inputs\.([A-Za-z_][\w-]*)")
# `client_payload.X || inputs.Y`: the two event kinds must agree on the name.
FALLBACK = re.compile(
    r"github\.event\.client_payload\.([\w-]+)\s*\|\|\s*(?:github\.event\.)?inputs\.([\w-]+)"
)


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    return yaml.safe_load(CD_WORKFLOW.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def workflow_text() -> str:
    return CD_WORKFLOW.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def payload_keys() -> set[str]:
    request = build_dispatch_request(
        api_url="https://api.github.com",
        repo="acme/model",
        event_type=GitHubSettings().event_type,
        model_name="rainfall",
        model_version="7",
        run_id="0123456789abcdef0123456789abcdef",
        metrics={"roc_auc": 0.85},
        alias="production",
        release="toy-v7-0123456789ab",
    )
    return set(request.body["client_payload"])


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
    on = workflow.get("on", workflow.get(True))
    assert isinstance(on, dict), "cd.yml has no `on:` mapping"
    return on


def dispatch_inputs(workflow: dict[Any, Any]) -> dict[str, dict[str, Any]]:
    return triggers(workflow)["workflow_dispatch"]["inputs"]


def test_cd_reads_only_payload_keys_the_dispatcher_sends(
    workflow_text: str, payload_keys: set[str]
) -> None:
    read = set(PAYLOAD_REF.findall(workflow_text))

    assert {"model_name", "model_version"} <= read
    assert read <= payload_keys, f"never sent: {read - payload_keys}"


def test_required_manual_inputs_are_sent_by_the_dispatcher(
    workflow: dict[Any, Any], payload_keys: set[str]
) -> None:
    required = {name for name, spec in dispatch_inputs(workflow).items() if spec.get("required")}

    assert {"model_name", "model_version"} <= required
    assert required <= payload_keys, f"not in the payload: {required - payload_keys}"


def test_every_input_read_is_declared(workflow: dict[Any, Any], workflow_text: str) -> None:
    read = set(INPUT_REF.findall(workflow_text))

    assert read
    assert read <= set(dispatch_inputs(workflow))


def test_payload_and_manual_inputs_share_names(workflow_text: str) -> None:
    pairs = FALLBACK.findall(workflow_text)

    assert pairs
    assert all(payload == manual for payload, manual in pairs), pairs


def test_cd_listens_for_the_default_event_type(workflow: dict[Any, Any]) -> None:
    types = triggers(workflow)["repository_dispatch"]["types"]

    assert GitHubSettings().event_type in types


def ship_steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = workflow["jobs"]["ship"]["steps"]
    return steps


def step_with(workflow: dict[Any, Any], key: str, value: str) -> tuple[int, dict[str, Any]]:
    found = [(i, s) for i, s in enumerate(ship_steps(workflow)) if value in str(s.get(key, ""))]
    assert len(found) == 1, f"{len(found)} steps with {key} ~ {value!r}"
    return found[0]


FAKE_DOCKER = """#!/bin/sh
# `docker buildx imagetools inspect IMAGE` succeeds for the images listed in $IMAGES.
[ "$1 $2 $3" = "buildx imagetools inspect" ] && grep -qxF "$4" "$IMAGES"
"""


@pytest.mark.parametrize(
    ("existing", "rebuild", "shipped"),
    [
        (["ghcr.io/acme/model/toy:v3"], "false", "true"),
        (["ghcr.io/acme/model/toy:v2"], "false", "false"),
        (["ghcr.io/acme/model/toy:v3"], "true", "false"),
    ],
)
def test_a_version_whose_image_exists_is_not_built_again(
    workflow: dict[Any, Any], tmp_path: Path, existing: list[str], rebuild: str, shipped: str
) -> None:
    _, check = step_with(workflow, "id", "shipped")
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "docker").write_text(FAKE_DOCKER, encoding="utf-8")
    (tools / "docker").chmod(0o755)
    (tmp_path / "images").write_text("\n".join(existing) + "\n", encoding="utf-8")
    output = tmp_path / "output"
    env = {
        "PATH": f"{tools}:/usr/bin:/bin",
        "IMAGES": str(tmp_path / "images"),
        "IMAGE": "ghcr.io/acme/model/toy",
        "MODEL_VERSION": "3",
        "REBUILD": rebuild,
        "GITHUB_OUTPUT": str(output),
    }
    subprocess.run(["bash", "-e", "-c", check["run"]], env=env, check=True, capture_output=True)

    assert output.read_text(encoding="utf-8").split() == [f"shipped={shipped}"]


def test_the_image_is_built_only_when_not_shipped_and_the_alias_moves_when_it_was(
    workflow: dict[Any, Any],
) -> None:
    checked, _ = step_with(workflow, "id", "shipped")
    built, build = step_with(workflow, "id", "build")
    moved, retag = step_with(workflow, "run", "imagetools create")

    assert checked < built and checked < moved
    assert build["if"] == "steps.shipped.outputs.shipped != 'true'"
    assert retag["if"] == "steps.shipped.outputs.shipped == 'true' && env.MODEL_ALIAS != ''"
    assert '--tag "$IMAGE:$MODEL_ALIAS" "$IMAGE:v$MODEL_VERSION"' in retag["run"]


def test_each_cd_run_is_named_after_the_release_it_was_sent(
    workflow: dict[Any, Any], payload_keys: set[str]
) -> None:
    assert "release" in payload_keys
    assert "github.event.client_payload.release" in workflow["run-name"]
