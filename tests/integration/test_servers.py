"""Real servers by configuration only: an `mlflow server` on 127.0.0.1 with its artifacts on an
S3-compatible server (moto's), the whole retraining flow against it, and DVC pushing and pulling
the demo data to and from that S3 remote."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from flow_project import Project, toy_project
from local_servers import (
    S3_KEYS,
    free_port,
    mlflow_server_command,
    moto_s3,
    s3_client,
    start,
    stop,
    wait_until_up,
)
from mlflow import MlflowClient

from pipeline import tasks
from registry.release import pending_release
from runs.ledger import read_ledger

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BUCKET = "driftloop"
TOKEN = "ghp_servers_secret_0123456789"
S3_ENV = S3_KEYS


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 with an empty bucket; yields its endpoint URL."""
    with moto_s3(tmp_path_factory.mktemp("s3") / "log", BUCKET) as endpoint:
        yield endpoint


def _objects(endpoint: str, prefix: str) -> list[str]:
    listed = s3_client(endpoint).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


def _server_command(root: Path, port: int, s3: str) -> tuple[list[str], dict[str, str]]:
    """`mlflow server` on 127.0.0.1: SQLite metadata under `root`, artifacts proxied to S3."""
    backend = f"sqlite:///{root / 'mlflow.db'}"
    return mlflow_server_command(root, port, backend=backend, s3=s3, bucket=BUCKET)


@pytest.fixture(scope="module")
def tracking_server(s3: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An MLflow server for the module (see `_server_command`)."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command, env = _server_command(root, port, s3)
    process = start(command, env, root / "log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/health", process, 180, root / "log")
        yield url
    finally:
        stop(process)
        mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def project(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with toy_project(tmp_path_factory.mktemp("served"), TOKEN) as built:
        yield built


def test_retraining_flow_against_mlflow_server_with_s3_artifacts(
    project: Project, tracking_server: str, s3: str
) -> None:
    summary = project.run("b1-clean.csv", MLFLOW__TRACKING_URI=tracking_server)
    assert summary.outcome == "promoted" and summary.production_version == "1"
    client = MlflowClient(tracking_uri=tracking_server, registry_uri=tracking_server)
    assert client.get_model_version_by_alias("toy", "production").version == "1"
    stored = _objects(s3, "mlflow-server")
    assert any(key.endswith("model.ubj") for key in stored)
    assert any(key.endswith("model_card.md") for key in stored)
    assert any(key.endswith(".html") for key in stored)  # the monitoring report
    mlflow.set_tracking_uri(tracking_server)
    model = mlflow.pyfunc.load_model("models:/toy@production")
    batch = project.batch("b4-clean.csv")
    assert len(model.predict(pd.read_csv(batch).drop(columns=["y"]))) == 500
    # No artifact was written locally: the configuration alone moved everything.
    assert not (project.root / "mlartifacts").exists()


def test_dvc_pushes_and_pulls_the_demo_data_through_the_s3_remote(s3: str, tmp_path: Path) -> None:
    work = _dvc_checkout(tmp_path / "checkout")
    dvc = _dvc_runner(work)
    dvc("remote", "add", "-d", "s3", f"s3://{BUCKET}/dvc")
    dvc("remote", "modify", "s3", "endpointurl", s3)
    dvc("repro", "demo_data")
    lock = yaml.safe_load((work / "dvc.lock").read_text())
    assert lock == yaml.safe_load((REPO / "dvc.lock").read_text())  # same data, same hashes
    before = _digests(work / "data")
    dvc("push", "demo_data")  # the rainfall demo's stage (the reviews demo has its own)
    assert _objects(s3, "dvc/")
    shutil.rmtree(work / "data")
    shutil.rmtree(work / ".dvc" / "cache")
    dvc("pull", "demo_data")
    assert _digests(work / "data") == before
    assert "in sync" in dvc("status", "--cloud", "demo_data").stdout


def test_dvc_push_to_an_s3_remote_that_is_down_fails_clearly_then_succeeds(
    tmp_path: Path,
) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    command = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    work = _dvc_checkout(tmp_path / "checkout")
    dvc = _dvc_runner(work)
    dvc("remote", "add", "-d", "s3", f"s3://{BUCKET}/dvc")
    dvc("remote", "modify", "s3", "endpointurl", endpoint)
    dvc("repro", "demo_data")
    failed = dvc("push", "demo_data", check=False)  # nothing listens on the endpoint
    assert failed.returncode != 0
    assert "127.0.0.1" in failed.stdout + failed.stderr or "connect" in failed.stderr.lower()
    server = start(command, os.environ | S3_ENV, tmp_path / "s3.log")
    try:
        wait_until_up(endpoint, server, 60, tmp_path / "s3.log")
        s3_client(endpoint).create_bucket(Bucket=BUCKET)
        assert dvc("push", "demo_data").returncode == 0  # the same command, once the remote is back
        assert "in sync" in dvc("status", "--cloud", "demo_data").stdout
    finally:
        stop(server)


def _dvc_checkout(work: Path) -> Path:
    """A fresh git + DVC checkout holding the project's demo-data stage."""
    work.mkdir()
    for name in ("dvc.yaml", "dvc.lock"):
        shutil.copy2(REPO / name, work / name)
    shutil.copytree(REPO / "src" / "demo_data", work / "src" / "demo_data")
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    _dvc_runner(work)("init", "-q")
    _dvc_runner(work)("config", "core.analytics", "false")
    return work


def _dvc_runner(work: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    env = os.environ | S3_ENV | {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}

    def dvc(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(BIN / "dvc"), *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if check:
            assert done.returncode == 0, f"dvc {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done

    return dvc


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".gitignore"  # dvc's own bookkeeping, not data
    }


def test_the_mlflow_server_going_away_mid_run_then_a_rerun_finishes(
    s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, port = tmp_path / "outage-server", free_port()
    root.mkdir()
    command, env = _server_command(root, port, s3)
    url = f"http://127.0.0.1:{port}"
    # Fail fast instead of MLflow's default of 7 retries with back-off.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    server = start(command, env, root / "log")
    try:
        wait_until_up(f"{url}/health", server, 180, root / "log")
        with toy_project(tmp_path / "outage", TOKEN) as project:
            assert project.run("b1-clean.csv", MLFLOW__TRACKING_URI=url).outcome == "promoted"
            trained = tasks.register

            def server_dies_after_training(*args: object, **kwargs: object) -> object:
                stop(server)
                return trained(*args, **kwargs)

            monkeypatch.setattr(tasks, "register", server_dies_after_training)
            with pytest.raises(Exception, match=r"127\.0\.0\.1"):
                project.run("b5-concept.csv", MLFLOW__TRACKING_URI=url)
            monkeypatch.setattr(tasks, "register", trained)
            ledger = project.root / "data" / "ledger.jsonl"
            assert [e.batch for e in read_ledger(ledger)] == ["b1-clean.csv"]
            assert project.events()[-1] == "run_failed"

            server = start(command, env, root / "log.restart")
            wait_until_up(f"{url}/health", server, 180, root / "log.restart")
            rerun = project.run("b5-concept.csv", MLFLOW__TRACKING_URI=url)
            assert rerun.outcome == "promoted"
            assert [e.batch for e in read_ledger(ledger)] == ["b1-clean.csv", "b5-concept.csv"]
            client = MlflowClient(tracking_uri=url, registry_uri=url)
            assert client.get_model_version_by_alias("toy", "production").version == (
                rerun.production_version
            )
            assert pending_release(client, "toy", "production") is None
    finally:
        stop(server)
        mlflow.set_tracking_uri(None)
