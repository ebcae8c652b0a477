"""prefect.yaml's docker and kubernetes deployments: Prefect's base job templates for those pool
types accept their job variables, they run what their process twins run, and they run it in the
image the Dockerfile builds."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import prefect
import pytest
import yaml
from prefect.cli.deploy._config import _load_deploy_configs_and_actions, _parse_name_from_pattern
from prefect.utilities.schema_tools import validate
from prefect.utilities.templating import apply_values
from prefect.workers.base import BaseWorker
from rich.console import Console

from config.settings import PathSettings

ROOT = Path(__file__).parents[2]
PREFECT_YAML = ROOT / "prefect.yaml"
DOCKERFILE = ROOT / "Dockerfile"
# What the Prefect server answers for a pool type whose worker package (prefect-docker,
# prefect-kubernetes) is not installed and the online collection registry is out of reach.
REGISTRY_VIEW = (
    Path(prefect.__file__).parent
    / "server/api/collections_data/views/aggregate-worker-metadata.json"
)
CONTAINER_TYPES = ("docker", "kubernetes")
CREATE_POOL = re.compile(r"prefect work-pool create (\S+) --type (\S+)")
DEPLOY = re.compile(r"prefect --no-prompt deploy (.+)")
BUILD_IMAGE = re.compile(r"docker build -t (\S+) \.")
ENV_PLACEHOLDER = re.compile(r"\{\{ \$(\w+) \}\}")
STAGE = re.compile(r"^FROM\s+(\S+)\s+AS\s+(\S+)", re.IGNORECASE)
JSON_TYPES: dict[str, type] = {
    "string": str,
    "array": list,
    "object": dict,
    "boolean": bool,
    "integer": int,
}


def prefect_yaml() -> dict[str, Any]:
    return yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))


def header() -> str:
    """The comment at the top of prefect.yaml, `#` and continuation lines joined."""
    lines = []
    for line in PREFECT_YAML.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.removeprefix("#").strip())
    return "\n".join(lines).replace("\\\n", " ")


def pool_types() -> dict[str, str]:
    """Pool name -> type, from the `prefect work-pool create` commands in the header."""
    return dict(CREATE_POOL.findall(header()))


def deployments() -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in prefect_yaml()["deployments"]}


def container_deployments() -> list[tuple[str, str, dict[str, Any]]]:
    """(deployment name, pool type, job variables) of each docker and kubernetes deployment."""
    types = pool_types()
    found = []
    for name, deployment in deployments().items():
        kind = types.get(deployment["work_pool"]["name"])
        if kind in CONTAINER_TYPES:
            found.append((name, kind, deployment["work_pool"]["job_variables"]))
    return found


CONTAINERS = container_deployments()
CONTAINER_IDS = [name for name, _, _ in CONTAINERS]


def twin_name(name: str, kind: str) -> str:
    """The process deployment a container deployment mirrors (`scoring-docker` -> `scoring`)."""
    assert name.endswith(f"-{kind}"), f"{name} on a {kind} pool should end in -{kind}"
    return name.removesuffix(f"-{kind}")


def default_base_job_template(kind: str) -> dict[str, Any]:
    """Prefect's default base job template for a pool type, in process.

    Does what `prefect work-pool get-default-base-job-template --type KIND` does
    (`prefect.workers.utilities.get_default_base_job_template_for_infrastructure_type`): the
    installed worker class's template, else the collection registry's, which the server reads
    from the copy bundled with Prefect when the registry is out of reach. That server step is
    skipped here: no temporary server, no network.
    """
    worker = BaseWorker.get_worker_class_from_type(kind)
    if worker is not None:
        return worker.get_default_base_job_template()
    registry = json.loads(REGISTRY_VIEW.read_text(encoding="utf-8"))
    for collection in registry.values():
        for candidate in collection.values():
            if candidate.get("type") == kind:
                return candidate["default_base_job_configuration"]
    pytest.fail(f"Prefect knows no {kind!r} work pool type")


@pytest.fixture(scope="module")
def templates() -> dict[str, dict[str, Any]]:
    return {kind: default_base_job_template(kind) for kind in CONTAINER_TYPES}


def dockerfile_stages() -> list[tuple[str, str, list[str]]]:
    """(stage, base, instructions) in order; continuation lines joined, comments dropped."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    stages: list[tuple[str, str, list[str]]] = []
    for line in text.splitlines():
        if match := STAGE.match(line):
            stages.append((match.group(2), match.group(1), []))
        elif stages and line.strip() and not line.lstrip().startswith("#"):
            stages[-1][2].append(line.strip())
    return stages


def default_target_chain() -> list[list[str]]:
    """The instructions of `docker build`'s default target (the last stage) and its bases,
    the target first."""
    stages = {name: (base, instructions) for name, base, instructions in dockerfile_stages()}
    name = dockerfile_stages()[-1][0]
    chain = []
    while name in stages:
        base, instructions = stages[name]
        chain.append(instructions)
        name = base
    return chain


def image_workdir() -> str:
    for instructions in default_target_chain():
        workdirs = [i.split(maxsplit=1)[1] for i in instructions if i.upper().startswith("WORKDIR")]
        if workdirs:
            return workdirs[-1]
    pytest.fail("the Dockerfile's default target sets no WORKDIR")


def test_the_header_creates_a_process_a_docker_and_a_kubernetes_pool() -> None:
    assert pool_types() == {
        "driftloop": "process",
        "driftloop-docker": "docker",
        "driftloop-kubernetes": "kubernetes",
    }
    used = {d["work_pool"]["name"] for d in deployments().values()}
    assert used == set(pool_types())


def test_the_process_deployments_are_the_three_the_integration_test_runs() -> None:
    on_process = {
        name: d["work_pool"]
        for name, d in deployments().items()
        if pool_types()[d["work_pool"]["name"]] == "process"
    }

    assert on_process == {
        name: {"name": "driftloop", "work_queue_name": "default"}
        for name in ("retraining-daily", "monitoring-hourly", "scoring")
    }


def test_every_process_deployment_has_a_docker_and_a_kubernetes_twin() -> None:
    process = {name for name, d in deployments().items() if d["work_pool"]["name"] == "driftloop"}
    twins = {(twin_name(name, kind), kind) for name, kind, _ in CONTAINERS}

    assert twins == {(name, kind) for name in process for kind in CONTAINER_TYPES}


@pytest.mark.parametrize(("name", "kind", "job_variables"), CONTAINERS, ids=CONTAINER_IDS)
def test_a_container_deployment_differs_from_its_process_twin_only_in_name_and_pool(
    name: str, kind: str, job_variables: dict[str, Any]
) -> None:
    deployment = deployments()[name]
    twin = deployments()[twin_name(name, kind)]

    def runs(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if k not in ("name", "work_pool", "pull")}

    assert runs(deployment) == runs(twin)
    assert "pull" not in twin, "the process deployments use the top-level pull step"
    assert {"entrypoint", "parameters"} <= set(runs(deployment))
    assert deployment.get("schedules") == twin.get("schedules")
    assert deployment["work_pool"]["name"] != twin["work_pool"]["name"]


@pytest.mark.parametrize(("name", "kind", "job_variables"), CONTAINERS, ids=CONTAINER_IDS)
def test_job_variables_are_variables_of_the_pool_types_base_job_template(
    name: str, kind: str, job_variables: dict[str, Any], templates: dict[str, dict[str, Any]]
) -> None:
    known = templates[kind]["variables"]["properties"]

    assert job_variables, f"{name} sets no job variables"
    assert set(job_variables) <= set(known), (
        f"not {kind} job variables: {set(job_variables) - set(known)}"
    )


@pytest.mark.parametrize(("name", "kind", "job_variables"), CONTAINERS, ids=CONTAINER_IDS)
def test_job_variables_have_the_json_types_the_base_job_template_declares(
    name: str, kind: str, job_variables: dict[str, Any], templates: dict[str, dict[str, Any]]
) -> None:
    known = templates[kind]["variables"]["properties"]

    for key, value in job_variables.items():
        declared = known[key].get("type")
        assert declared in JSON_TYPES, f"{name}: {key} is declared as {known[key]}"
        expected = JSON_TYPES[declared]
        assert isinstance(value, expected) and not (
            declared == "integer" and isinstance(value, bool)
        ), f"{name}: {key} = {value!r} is not a JSON {declared}"
        if "enum" in known[key]:
            assert value in known[key]["enum"], f"{name}: {key} = {value!r}"
        if declared == "array" and "items" in known[key]:
            item_type = JSON_TYPES[known[key]["items"]["type"]]
            assert all(isinstance(item, item_type) for item in value), f"{name}: {key}"
        if declared == "object" and "type" in known[key].get("additionalProperties", {}):
            value_type = JSON_TYPES[known[key]["additionalProperties"]["type"]]
            assert all(isinstance(v, value_type) for v in value.values()), f"{name}: {key}"


@pytest.mark.parametrize(("name", "kind", "job_variables"), CONTAINERS, ids=CONTAINER_IDS)
def test_job_variables_pass_the_validation_the_server_runs_on_deployment_create(
    name: str, kind: str, job_variables: dict[str, Any], templates: dict[str, dict[str, Any]]
) -> None:
    # As prefect.server.api.validation.validate_job_variables_for_deployment calls it.
    errors = validate(
        job_variables,
        templates[kind]["variables"],
        preprocess=True,
        ignore_required=True,
        allow_none_with_default=True,
    )

    assert [error.message for error in errors] == []


@pytest.mark.parametrize(
    ("kind", "wrong"),
    [
        ("docker", {"volumes": "/srv/data:/app/data"}),
        ("docker", {"image_pull_policy": "Sometimes"}),
        ("kubernetes", {"finished_job_ttl": "1d"}),
        ("kubernetes", {"env": {"DRIFTLOOP_TRAINING__N_ESTIMATORS": 50}}),
    ],
)
def test_the_servers_validation_rejects_job_variables_of_the_wrong_type(
    kind: str, wrong: dict[str, Any], templates: dict[str, dict[str, Any]]
) -> None:
    errors = validate(
        wrong,
        templates[kind]["variables"],
        preprocess=True,
        ignore_required=True,
        allow_none_with_default=True,
    )

    assert errors


@pytest.mark.parametrize(("name", "kind", "job_variables"), CONTAINERS, ids=CONTAINER_IDS)
def test_the_image_is_the_one_the_dockerfile_builds_by_default(
    name: str, kind: str, job_variables: dict[str, Any]
) -> None:
    # `docker build -t TAG .` without --target: the other documented build is the `serve` one.
    [tag] = set(BUILD_IMAGE.findall(DOCKERFILE.read_text(encoding="utf-8")))
    image = tag if ":" in tag else f"{tag}:latest"

    assert dockerfile_stages()[-1][0] == "flow", "the default target should run the flow"
    assert job_variables["image"] == image
    assert f"docker build -t {tag} ." in header()


def working_directory(pull_steps: list[dict[str, Any]]) -> str:
    [step] = pull_steps
    return step["prefect.deployments.steps.set_working_directory"]["directory"]


@pytest.mark.parametrize(("name", "kind", "job_variables"), CONTAINERS, ids=CONTAINER_IDS)
def test_flow_runs_start_in_the_images_workdir_where_the_entrypoint_is(
    name: str, kind: str, job_variables: dict[str, Any]
) -> None:
    directory = working_directory(deployments()[name]["pull"])
    top = deployments()[name]["entrypoint"].split("/", 1)[0]
    copied = [
        i.split()[1:]
        for instructions in default_target_chain()
        for i in instructions
        if i.upper().startswith("COPY") and "--from" not in i
    ]

    # `prefect deploy` would fill a `{{ $VAR }}` in with the deployer's value (its checkout).
    assert not ENV_PLACEHOLDER.search(directory)
    assert directory == image_workdir() == "/app"
    assert [top, f"./{top}"] in copied


@pytest.mark.parametrize(("name", "kind", "job_variables"), CONTAINERS, ids=CONTAINER_IDS)
def test_the_container_sets_the_project_dir_variable_the_top_level_pull_step_reads(
    name: str, kind: str, job_variables: dict[str, Any]
) -> None:
    [variable] = ENV_PLACEHOLDER.findall(working_directory(prefect_yaml()["pull"]))

    assert job_variables["env"] == {variable: image_workdir()}


def test_docker_mounts_the_checkouts_data_and_reports_where_the_settings_expect_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = PathSettings()
    written = {
        path.parts[0]
        for path in (defaults.spec, defaults.ledger, defaults.reports, defaults.quarantine)
    }
    workdir = image_workdir()
    # `prefect deploy` fills `{{ $VAR }}` in job variables from its environment, like this.
    monkeypatch.setenv("DRIFTLOOP_PROJECT_DIR", "/srv/driftloop")

    docker = [(name, jv) for name, kind, jv in CONTAINERS if kind == "docker"]
    assert len(docker) == 3
    for name, job_variables in docker:
        volumes = apply_values(job_variables["volumes"], os.environ, remove_notset=False)
        assert volumes == [f"/srv/driftloop/{d}:{workdir}/{d}" for d in sorted(written)], name


def test_kubernetes_jobs_run_in_their_own_namespace() -> None:
    kubernetes = [jv for _, kind, jv in CONTAINERS if kind == "kubernetes"]

    assert len(kubernetes) == 3
    assert {jv["namespace"] for jv in kubernetes} == {"driftloop"}
    assert "kubectl create namespace driftloop" in header()


def test_prefect_deploy_reads_every_deployment_with_its_job_variables() -> None:
    out = io.StringIO()
    configs, actions = _load_deploy_configs_and_actions(PREFECT_YAML, console=Console(file=out))

    assert out.getvalue() == ""  # no "Skipping deployment configuration due to validation errors"
    assert [c["name"] for c in configs] == list(deployments())
    for config in configs:
        raw = deployments()[config["name"]]
        assert config["work_pool"] == raw["work_pool"]
        assert config.get("pull") == raw.get("pull")
    assert actions["pull"] == prefect_yaml()["pull"]
    assert {c["name"] for c in configs if "pull" in c} == set(CONTAINER_IDS)


def test_the_headers_deploy_commands_each_deploy_exactly_one_pools_set() -> None:
    configs, _ = _load_deploy_configs_and_actions(PREFECT_YAML, console=Console(file=io.StringIO()))
    selected = []
    for command in DEPLOY.findall(header()):
        names: list[str] = []
        for quoted in re.findall(r"--name (\S+)", command):
            name = quoted.strip("'\"")
            names += _parse_name_from_pattern(configs, name) if "*" in name else [name]
        selected.append(names)
    by_pool: dict[str, list[str]] = {}
    for name, deployment in deployments().items():
        by_pool.setdefault(deployment["work_pool"]["name"], []).append(name)

    assert "--all" not in " ".join(DEPLOY.findall(header()))
    assert sorted(selected) == sorted(by_pool.values())
