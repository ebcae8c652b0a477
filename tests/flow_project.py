"""A small project on disk (toy data, spec, SQLite registry, fake GitHub) for flow tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pytest
import yaml
from mlflow import MlflowClient
from prefect.settings import PREFECT_API_URL

from config.settings import get_settings
from factories import make_frame, spec_for_frames
from fakes import GitHubState, WebhookState, fake_github, fake_webhook
from pipeline.flows import monitoring_flow, retraining_flow


@dataclass
class Project:
    root: Path
    github: GitHubState
    client: MlflowClient
    env: dict[str, str]
    webhook: WebhookState
    spec_task: str = "binary"

    def events(self) -> list[str]:
        return [call["body"]["driftloop"]["event"] for call in self.webhook.received]

    def batch(self, name: str) -> Path:
        return self.root / "data" / "incoming" / "toy" / name

    def aliases(self) -> dict[str, str]:
        model = self.client.get_registered_model("toy")
        return {alias: str(version) for alias, version in model.aliases.items()}

    def versions(self) -> int:
        return len(self.client.search_model_versions("name='toy'"))

    def child_env(self, **settings: str) -> dict[str, str]:
        """Environment for a flow run in a child process, on this session's Prefect server."""
        return {
            **os.environ,
            **self.env,
            **{f"DRIFTLOOP_{key}": value for key, value in settings.items()},
            "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        }

    def run_killed(self, script: str, *args: str, **settings: str) -> None:
        """Run `script` in a child process and check it died by SIGKILL (as the script arranges)."""
        killed = subprocess.run(
            [sys.executable, "-c", script, *args],
            env=self.child_env(**settings),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]

    def run(self, name: str, *, force: bool = False, **settings: str) -> Any:
        with _settings(settings):
            return retraining_flow(batch=str(self.batch(name)), force_retrain=force)

    def monitor(self, **settings: str) -> Any:
        """Run the monitoring flow on the next unmonitored batch."""
        with _settings(settings):
            return monitoring_flow()


@contextmanager
def _settings(settings: dict[str, str]) -> Iterator[None]:
    """DRIFTLOOP_<key> set to each value for the block; the project's own values come back."""
    names = [f"DRIFTLOOP_{key}" for key in settings]
    saved = {n: os.environ.get(n) for n in names}
    os.environ.update(dict(zip(names, settings.values(), strict=True)))
    get_settings.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


@contextmanager
def toy_project(
    root: Path, token: str, task: str = "binary", **spec_fields: Any
) -> Iterator[Project]:
    """Write the toy batches and spec under `root`, and point driftloop at them (cwd = root)."""
    incoming = root / "data" / "incoming" / "toy"
    incoming.mkdir(parents=True)
    make_frame(1500, seed=1, task=task).to_parquet(root / "data" / "reference.parquet")
    make_frame(500, seed=2, start=1500, task=task).to_csv(incoming / "b1-clean.csv", index=False)
    broken = make_frame(500, seed=3, start=2000, task=task).rename(columns={"x2": "x_two"})
    broken.to_csv(incoming / "b2-broken.csv", index=False)
    make_frame(500, seed=4, start=2500, shift=1.5, task=task).to_csv(
        incoming / "b3-drift.csv", index=False
    )
    make_frame(500, seed=5, start=3000, task=task).to_csv(incoming / "b4-clean.csv", index=False)
    # Concept drift only: same feature distribution, the label's relationship inverted.
    make_frame(500, seed=6, start=3500, flip=True, task=task).to_csv(
        incoming / "b5-concept.csv", index=False
    )
    make_frame(500, seed=7, start=4000, flip=True, task=task).to_csv(
        incoming / "b6-concept.csv", index=False
    )
    spec = spec_for_frames("toy", "data/reference.parquet", "data/incoming/toy", task) | spec_fields
    (root / "toy.yaml").write_text(yaml.safe_dump(spec))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    saved_cwd = Path.cwd()
    os.chdir(root)
    with (
        fake_github(token) as github,
        fake_webhook() as webhook,
        pytest.MonkeyPatch.context() as patch,
    ):
        env = {
            "DRIFTLOOP_PATHS__SPEC": str(root / "toy.yaml"),
            "DRIFTLOOP_MLFLOW__TRACKING_URI": uri,
            "DRIFTLOOP_GITHUB__TOKEN": token,
            "DRIFTLOOP_GITHUB__REPO": "acme/model",
            "DRIFTLOOP_GITHUB__API_URL": github.url,
            "DRIFTLOOP_TRAINING__N_ESTIMATORS": "80",
            # Smaller budgets than the defaults keep each flow run to a few seconds; the rule
            # and the tuning themselves are the same (their defaults are unit-tested).
            "DRIFTLOOP_TRAINING__TUNING_TRIALS": "5",
            "DRIFTLOOP_PROMOTION__BOOTSTRAP_RESAMPLES": "300",
            # Scenarios follow one another batch by batch; the default cooldown is unit-tested.
            "DRIFTLOOP_POLICY__COOLDOWN": "0",
            # Batches are written a moment before each run; the settle time is unit-tested.
            "DRIFTLOOP_INCOMING__SETTLE_SECONDS": "0",
            "DRIFTLOOP_NOTIFY__WEBHOOK_URL": webhook.url,
            # A fresh process per challenger costs 3-5 s of CPU: the flow tests of serving
            # (test_approval_flow.py) turn it on; registry/test_servable.py tests the check.
            "DRIFTLOOP_PROMOTION__SERVED_CHECK": "false",
        }
        for key, value in env.items():
            patch.setenv(key, value)
        get_settings.cache_clear()
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        yield Project(root, github, client, env, webhook, task)
    os.chdir(saved_cwd)
    mlflow.set_tracking_uri(None)
    get_settings.cache_clear()
