"""A team's tracking server: `mlflow server` on 127.0.0.1 with its metadata in PostgreSQL and its
artifacts on an S3-compatible server (moto's), and the retraining flow run against it.

PostgreSQL is Debian's (`make postgres` installs it when missing), started in a temporary
directory on a free loopback port. Its tools refuse to run as root, so under root they run as the
`postgres` system user. With no PostgreSQL binaries at all the test skips and says why.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import mlflow
import psycopg2
import pytest
from flow_project import Project, toy_project
from local_servers import (
    free_port,
    mlflow_server_command,
    moto_s3,
    s3_client,
    start,
    stop,
    wait_until_up,
)
from mlflow import MlflowClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUCKET = "driftloop"
TOKEN = "ghp_postgres_secret_0123456789"
PG_USER = "driftloop"  # the cluster's superuser (trust authentication, 127.0.0.1 only)
PG_DB = "mlflow"
PG_SECONDS = 60


def _pg_bin() -> Path:
    """The folder of pg_ctl, initdb and pg_isready (skip if PostgreSQL is not installed)."""
    on_path = shutil.which("pg_ctl")
    if on_path is not None:
        return Path(on_path).resolve().parent
    # Debian's postgresql keeps them out of PATH, under its major version.
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if not installed:
        pytest.skip(
            "no PostgreSQL binaries (pg_ctl on PATH or in /usr/lib/postgresql/*/bin): "
            "`make postgres`, or apt-get install postgresql"
        )
    return installed[-1].parent


def _as_owner() -> tuple[list[str], pwd.struct_passwd | None]:
    """The prefix that runs PostgreSQL's tools as a user they accept, and that user under root."""
    if os.geteuid() != 0:
        return [], None
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no `postgres` user to run PostgreSQL as")
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root and there is no runuser to run PostgreSQL as `postgres`")
    return [runuser, "-u", "postgres", "--"], owner


def _run(command: list[str], cwd: Path) -> None:
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=PG_SECONDS * 2, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}{done.stderr}"


def _wait_until_ready(pg_bin: Path, port: int, log: Path) -> None:
    deadline = time.monotonic() + PG_SECONDS
    ready = [str(pg_bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)]
    while subprocess.run(ready, check=False, timeout=10).returncode != 0:
        if time.monotonic() > deadline:
            pytest.fail(f"PostgreSQL did not get ready within {PG_SECONDS} s:\n{log.read_text()}")
        time.sleep(0.5)


def _postmaster_pid(data: Path) -> int:
    return int((data / "postmaster.pid").read_text().split()[0])


def _stop_postgres(prefix: list[str], pg_bin: Path, data: Path, base: Path) -> None:
    """`pg_ctl stop -m fast`; should that fail, SIGQUIT (immediate shutdown) to the postmaster."""
    if not (data / "postmaster.pid").exists():
        return
    pid = _postmaster_pid(data)
    stopping = [*prefix, str(pg_bin / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"]
    done = subprocess.run(stopping, cwd=base, capture_output=True, timeout=PG_SECONDS, check=False)
    if done.returncode != 0:
        try:
            os.kill(pid, signal.SIGQUIT)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + PG_SECONDS
        while (data / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.5)


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A PostgreSQL cluster on 127.0.0.1 with an empty database; yields its SQLAlchemy URL."""
    pg_bin = _pg_bin()
    prefix, owner = _as_owner()
    # Not under pytest's temporary folder: that one is private to root, and the server's owner
    # has to reach its data and socket folders.
    base = Path(tempfile.mkdtemp(prefix="driftloop-pg-"))
    if owner is not None:
        os.chown(base, owner.pw_uid, owner.pw_gid)
    data, log, port = base / "data", base / "postgres.log", free_port()
    try:
        initdb = [str(pg_bin / "initdb"), "-D", str(data), "-U", PG_USER, "--auth=trust"]
        _run([*prefix, *initdb, "--encoding=UTF8", "--no-locale", "--no-sync"], base)
        # Loopback TCP only, the socket in our folder; durability is not what is under test.
        options = f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off -c synchronous_commit=off"
        pg_ctl = [str(pg_bin / "pg_ctl"), "start", "-D", str(data), "-l", str(log), "-o", options]
        _run([*prefix, *pg_ctl, "-w", "-t", str(PG_SECONDS)], base)
        _wait_until_ready(pg_bin, port, log)
        _run(
            [str(pg_bin / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER, PG_DB],
            base,
        )
        yield f"postgresql://{PG_USER}@127.0.0.1:{port}/{PG_DB}"
    finally:
        _stop_postgres(prefix, pg_bin, data, base)
        shutil.rmtree(base, ignore_errors=True)


def _rows(url: str, query: str, *args: str) -> list[tuple[object, ...]]:
    with closing(psycopg2.connect(url)) as connection, connection.cursor() as cursor:
        cursor.execute(query, args)
        return cursor.fetchall()


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 with an empty bucket; yields its endpoint URL."""
    with moto_s3(tmp_path_factory.mktemp("s3") / "log", BUCKET) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def tracking_server(
    postgres: str, s3: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1: metadata in PostgreSQL, artifacts proxied to S3."""
    root = tmp_path_factory.mktemp("pg-mlflow-server")
    port = free_port()
    command, env = mlflow_server_command(root, port, backend=postgres, s3=s3, bucket=BUCKET)
    process = start(command, env, root / "log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/health", process, 240, root / "log")  # schema migrations first
        yield url
    finally:
        stop(process)
        mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def project(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with toy_project(tmp_path_factory.mktemp("pg-served"), TOKEN) as built:
        yield built


def test_retraining_flow_keeps_its_registry_in_postgres_and_its_models_on_s3(
    project: Project, tracking_server: str, postgres: str, s3: str
) -> None:
    first = project.run("b1-clean.csv", MLFLOW__TRACKING_URI=tracking_server)
    assert first.outcome == "promoted" and first.production_version == "1"
    second = project.run("b5-concept.csv", MLFLOW__TRACKING_URI=tracking_server)
    assert second.outcome == "promoted" and second.production_version == "2"

    client = MlflowClient(tracking_uri=tracking_server, registry_uri=tracking_server)
    model = client.get_registered_model("toy")
    assert model.aliases["production"] == "2" and model.aliases["previous"] == "1"
    assert client.get_model_version_by_alias("toy", "production").version == "2"

    # The registry is PostgreSQL's tables, not a file next to the project.
    assert _rows(postgres, "SELECT name FROM registered_models") == [("toy",)]
    versions = _rows(postgres, "SELECT version FROM model_versions WHERE name = %s", "toy")
    assert sorted(v for (v,) in versions) == [1, 2]
    aliases = _rows(
        postgres, "SELECT alias, version FROM registered_model_aliases WHERE name = %s", "toy"
    )
    assert dict(aliases) == {alias: int(v) for alias, v in model.aliases.items()}
    assert project.client.search_registered_models() == []  # the project's own SQLite registry

    # Both models' files are objects in the bucket; none was written locally.
    pages = (
        s3_client(s3)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=BUCKET, Prefix="pg-mlflow-server")
    )
    stored = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert sum(key.endswith("model.ubj") for key in stored) >= 2
    assert any(key.endswith("model_card.md") for key in stored)
    assert not (project.root / "mlartifacts").exists()
