"""prefect.yaml for real: a `prefect server` on 127.0.0.1, `prefect deploy --all`, a process
worker, and deployment runs that complete."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from local_servers import free_port, start, stop, wait_until_up

from factories import make_frame, spec_for_frames

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")
SERVER_STARTUP_SECONDS = 150
RUN_ID = re.compile(r"UUID: ([0-9a-f-]{36})")
RUN_SECONDS = 300  # a flow run's process imports the whole stack: 15-30 s on a busy machine
FINISHED = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A Prefect server of our own (its own database), and the env that talks to it."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DRIFTLOOP_"))}
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        # Runs start only when the test asks: no scheduler adds the deployments' cron runs
        # (an hourly one could reach the worker mid-test), and no UI is built or served.
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
    }
    log = home / "server.log"
    command = [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    process = start(command, env, log)
    try:
        wait_until_up(f"{env['PREFECT_API_URL']}/health", process, SERVER_STARTUP_SECONDS, log)
        yield env
    finally:
        stop(process)


@pytest.fixture(scope="module")
def project(server: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Toy data in a temporary folder, and worker settings that point driftloop at it."""
    root = tmp_path_factory.mktemp("deployed")
    incoming = root / "incoming"
    incoming.mkdir()
    make_frame(1500, seed=1).to_parquet(root / "reference.parquet")
    make_frame(500, seed=2, start=1500).to_csv(incoming / "b1.csv", index=False)
    spec = spec_for_frames("toy", str(root / "reference.parquet"), str(incoming))
    (root / "toy.yaml").write_text(yaml.safe_dump(spec))
    return server | {
        "DRIFTLOOP_PROJECT_DIR": str(REPO),
        "DRIFTLOOP_PATHS__SPEC": str(root / "toy.yaml"),
        "DRIFTLOOP_PATHS__LEDGER": str(root / "ledger.jsonl"),
        "DRIFTLOOP_PATHS__REPORTS": str(root / "reports"),
        "DRIFTLOOP_PATHS__QUARANTINE": str(root / "quarantine"),
        "DRIFTLOOP_PATHS__GX_ROOT": str(root / "gx"),
        "DRIFTLOOP_MLFLOW__TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "DRIFTLOOP_INCOMING__SETTLE_SECONDS": "0",
        "DRIFTLOOP_MLFLOW__ARTIFACT_ROOT": str(root / "mlartifacts"),
        "DRIFTLOOP_TRAINING__N_ESTIMATORS": "50",
        # The budgets of the toy flow tests (tests/flow_project.py): this test is about the
        # deployments and the worker, not the tuning, the bootstrap or the served check.
        "DRIFTLOOP_TRAINING__TUNING_TRIALS": "5",
        "DRIFTLOOP_PROMOTION__BOOTSTRAP_RESAMPLES": "300",
        "DRIFTLOOP_PROMOTION__SERVED_CHECK": "false",
        # The worker asks for scheduled runs every second (default 10 s).
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "LEDGER": str(root / "ledger.jsonl"),
    }


def prefect(env: dict[str, str], *args: str, timeout: int = 300) -> str:
    done = subprocess.run(
        [PREFECT, *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (
        f"prefect {' '.join(args)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    return done.stdout


def deployed(env: dict[str, str]) -> set[str]:
    """The server's deployments as `flow/deployment` (what `prefect deployment ls` lists)."""
    api = env["PREFECT_API_URL"]
    flows = httpx.post(f"{api}/flows/filter", json={}, timeout=10).json()
    names = {flow["id"]: flow["name"] for flow in flows}
    found = httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()
    return {f"{names[d['flow_id']]}/{d['name']}" for d in found}


@contextmanager
def worker(env: dict[str, str], log: Path) -> Iterator[None]:
    """A process worker of the pool (`prefect worker start`), running until the block ends."""
    process = start([PREFECT, "worker", "start", "--pool", "driftloop"], env, log, cwd=REPO)
    try:
        yield
    finally:
        stop(process)


def run_deployment(env: dict[str, str], name: str, log: Path) -> dict[str, object]:
    """Start a run of the deployment and wait until the worker has run it; return the run."""
    flow_run = RUN_ID.search(prefect(env, "deployment", "run", name))
    assert flow_run, "no flow run id in `prefect deployment run` output"
    url = f"{env['PREFECT_API_URL']}/flow_runs/{flow_run.group(1)}"
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        run = dict(httpx.get(url, timeout=10).json())
        if run["state_type"] in FINISHED:
            return run
        time.sleep(0.5)
    pytest.fail(f"{name} did not finish within {RUN_SECONDS} s:\n{log.read_text()[-3000:]}")


def test_deploy_all_then_a_worker_runs_the_deployments(project: dict[str, str]) -> None:
    prefect(project, "work-pool", "create", "driftloop", "--type", "process")
    # The docker and kubernetes twins: the server checks their job variables against the pools'
    # base job templates when it creates them (no docker or cluster is needed for that).
    for pool, kind in (("driftloop-docker", "docker"), ("driftloop-kubernetes", "kubernetes")):
        prefect(project, "work-pool", "create", pool, "--type", kind)
    log = Path(project["LEDGER"]).with_name("worker.log")
    # The worker starts (a few seconds) while the deployments are created.
    with worker(project, log):
        prefect(project, "--no-prompt", "deploy", "--all")
        process = {
            "retraining/retraining-daily",
            "monitoring/monitoring-hourly",
            "scoring/scoring",
        }
        twins = {f"{name}-{pool}" for name in process for pool in ("docker", "kubernetes")}
        assert deployed(project) == process | twins

        monitored = run_deployment(project, "monitoring/monitoring-hourly", log)
        assert monitored["state_type"] == "COMPLETED", monitored.get("state")
        retrained = run_deployment(project, "retraining/retraining-daily", log)
        assert retrained["state_type"] == "COMPLETED", retrained.get("state")

    entries = [json.loads(line) for line in Path(project["LEDGER"]).read_text().splitlines()]
    assert [(e["batch"], e["status"]) for e in entries] == [
        ("b1.csv", "monitored"),
        ("b1.csv", "accepted"),
    ]
    assert entries[0]["run_id"] == monitored["id"] and entries[1]["run_id"] == retrained["id"]
