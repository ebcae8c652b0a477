"""Servers that tests start on 127.0.0.1 and stop by process group: ports, start-up, shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a server in a process group of its own, its output going to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float, log: Path) -> None:
    """Poll `url` until it answers below 500; fail with the server's log if it dies or stalls."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            time.sleep(1)
        if process.poll() is not None:
            pytest.fail(f"{url} exited during start-up:\n{log.read_text()[-3000:]}")
    pytest.fail(f"{url} did not answer within {seconds} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and everything it started (SIGTERM, then SIGKILL after 30 s).

    Stopping a server that is already gone does nothing.
    """
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


# Credentials moto accepts (any will do): what the tests give boto3, DVC and MLflow.
S3_KEYS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client for moto's server at `endpoint`."""
    import boto3  # noqa: PLC0415 (only the S3 tests need it)

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"],
        region_name=S3_KEYS["AWS_DEFAULT_REGION"],
    )


@contextmanager
def moto_s3(log: Path, bucket: str) -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 with an empty `bucket`; yields its endpoint URL."""
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    process = start([str(moto), "-H", "127.0.0.1", "-p", str(port)], os.environ | S3_KEYS, log)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(endpoint, process, 60, log)
        s3_client(endpoint).create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        stop(process)


def mlflow_server_command(
    root: Path, port: int, *, backend: str, s3: str, bucket: str
) -> tuple[list[str], dict[str, str]]:
    """`mlflow server` on 127.0.0.1:`port`: metadata at `backend`, artifacts proxied to S3.

    The artifacts go under `s3://<bucket>/<root's name>` on the S3 server at `s3`.
    """
    bin_dir = Path(sys.executable).parent
    env = (
        os.environ
        | S3_KEYS
        | {
            "MLFLOW_S3_ENDPOINT_URL": s3,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    command = [
        str(bin_dir / "mlflow"),
        *("server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        *("--backend-store-uri", backend),
        *("--artifacts-destination", f"s3://{bucket}/{root.name}"),
    ]
    return command, env
