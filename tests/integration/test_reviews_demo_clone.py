"""`driftloop demo --dataset reviews` in a fresh copy of the project prints what the README says.

Run by `make readme`. About 100 s on two cores: the console script in a subprocess, with its
own temporary Prefect server, `dvc repro demo_reviews` and six batches; then MLflow's scoring
server answers raw review text with the production model.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
from local_servers import free_port, start, stop, wait_until_up
from readme import README, copy_project

# With the README's other commands (`make readme`), not in `make test`: the text model, its
# checks and its served answers over HTTP are tested there on less data in seconds.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.readme]

DEMO_SECONDS = 400
UTC_STAMP = r"[0-9]{8}T[0-9]+Z"


def _expected_lines() -> list[str]:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"prints the same lines on any machine:\s*```\n(.*?)```", text, re.DOTALL)
    assert found, "the README no longer shows the output of the reviews demo"
    return [line for line in found[1].splitlines() if line.strip()]


def test_the_reviews_demo_runs_from_a_fresh_clone_as_the_readme_shows(tmp_path: Path) -> None:
    copy_project(tmp_path, "demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIFTLOOP_", "PREFECT_"))}
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):  # MLflow sets them in-process
        env.pop(name, None)
    env["PREFECT_HOME"] = str(tmp_path / ".prefect")
    done = subprocess.run(
        [".venv/bin/driftloop", "demo", "--dataset", "reviews"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEMO_SECONDS,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    # Every demo stage is reproduced (the reset removes them all), so `dvc status` stays clean.
    assert done.stdout.startswith("demo data: dvc repro demo_reviews demo_data; 6 batches")
    status = subprocess.run(
        [str(tmp_path / ".venv" / "bin" / "dvc"), "status"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert status.stdout.strip() == "Data and pipelines are up to date.", status
    printed = [line for line in done.stdout.splitlines() if line.startswith("batch-")]
    expected = [re.escape(line).replace("<UTC>", UTC_STAMP) for line in _expected_lines()]
    assert len(printed) == len(expected), printed
    for line, pattern in zip(printed, expected, strict=True):
        assert re.fullmatch(pattern, line), f"README says:\n{pattern}\nprinted:\n{line}"
    quarantined = list((tmp_path / "data" / "quarantine").glob("*-batch-03/batch-03.csv"))
    assert len(quarantined) == 1

    _serves_raw_text(tmp_path)


def _serves_raw_text(root: Path) -> None:
    """MLflow's own scoring server answers raw review text with the production model."""
    uri = f"sqlite:///{root / 'mlflow.db'}"
    port, bin_dir = free_port(), Path(sys.executable).parent
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_REGISTRY_URI": uri,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [
        *(str(bin_dir / "mlflow"), "models", "serve", "-m", "models:/reviews@production"),
        *("--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)),
    ]
    log = root / "serve.log"
    server = start(command, env, log, cwd=root)
    reviews = [
        "Delicious coffee, my favorite. I order it every month and love the flavor.",
        "Stale and tasteless, the box arrived crushed. Waste of money, never again.",
    ]
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/ping", server, 180, log)
        body = {"dataframe_split": {"columns": ["review"], "data": [[r] for r in reviews]}}
        answer = httpx.post(f"{url}/invocations", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        served = answer.json()["predictions"]
    finally:
        stop(server)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        local = mlflow.pyfunc.load_model("models:/reviews@production").predict(
            pd.DataFrame({"review": reviews})
        )
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    assert served == pytest.approx(list(local), abs=1e-6)
    # The score is the chance of `other` (not `great`): the complaint's is well above the praise's.
    assert served[1] > served[0] + 0.1
