"""Check that a registered version loads and scores through MLflow's own loader, in a fresh process.

A version is servable when a new Python process, loading it as `mlflow models serve` does
(`mlflow.pyfunc.load_model("models:/name/version")`), answers a holdout sample as the in-process
booster does (within a tolerance) and scores the input example logged with it. The process runs
`served_probe.py` with `python -I` (no PYTHONPATH, no script folder on `sys.path`), in the work
folder, with driftloop's packages blocked, so the model's code must do with what was logged with
it, as in a serving image where driftloop is not installed. (`-I` alone would not do: the
editable install puts `src/` on every interpreter's path through a `.pth` file.)

What this catches: a corrupt or missing artifact (booster, schema, text featurizer), logged code
that imports a driftloop module it was not logged with, a broken MLmodel or input example, and
served answers that differ from the pipeline's scores. What it cannot catch: differences between
this environment and the serving one (library versions, missing pip requirements: the probe uses
this interpreter's packages), nor request parsing in the HTTP server (the sample goes in as a
DataFrame, categories as plain text, as a JSON request would bring them).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from mlflow import MlflowClient

from registry import served_probe
from registry.served_answers import compare_answers, example_problem, failure_reason
from registry.served_probe import (
    CONFIG_FILE,
    EXAMPLE_SCORES_FILE,
    OUTCOME_FILE,
    SAMPLE_FILE,
    SAMPLE_SCORES_FILE,
    as_frame,
)

logger = logging.getLogger(__name__)

SERVABLE_TAG = "driftloop.servable"
DEFAULT_TOLERANCE = 1e-6
DEFAULT_TIMEOUT_SECONDS = 300.0
# driftloop's top-level packages (pyproject's wheel packages): a serving image has none of them.
# scikit-learn is not a serving requirement either (models.SERVING_REQUIREMENTS).
BLOCKED_PACKAGES = (
    "config",
    "evaluation",
    "compute",
    "data_validation",
    "model_monitoring",
    "training",
    "registry",
    "delivery",
    "pipeline",
    "demo_data",
    "runs",
    "sklearn",
)
_LOG_FILE = "probe.log"


@dataclass(frozen=True)
class ServedCheck:
    """Whether a version served by MLflow answers as the pipeline scores, and why (not)."""

    servable: bool
    reason: str
    rows: int
    max_difference: float | None
    seconds: float

    def __str__(self) -> str:
        verdict = "servable" if self.servable else "not servable"
        return f"{verdict}: {self.reason} ({self.rows} rows, {self.seconds:.1f}s)"


class PendingServedCheck:
    """A served check running in its own process; `result` waits for it and compares."""

    def __init__(
        self, process: subprocess.Popen[bytes], workdir: Path, label: str, timeout: float
    ) -> None:
        """Track `process` (running the probe in `workdir`), allowed `timeout` seconds from now."""
        self._process = process
        self._workdir = workdir
        self._label = label
        self._timeout = timeout
        self._started = time.time()
        self._deadline = time.monotonic() + timeout
        self._killed = False

    def result(self, expected: Any, *, tolerance: float = DEFAULT_TOLERANCE) -> ServedCheck:
        """Wait for the process (until the deadline) and compare its answer with `expected`.

        Args:
            expected: What the model should answer for the sample, computed in-process
                (`served_output(predict_scores(booster, sample, schema), sample, schema)`).
            tolerance: Largest absolute difference allowed on any score.

        Returns:
            The check; `servable` is False with the reason on any failure.
        """
        rows = len(expected)
        outcome = self._outcome()
        if isinstance(outcome, str):
            return self._failed(outcome, rows)
        seconds = float(outcome["finished"]) - self._started
        if seconds > self._timeout:  # finished, but after the deadline, before `result` ran
            return self._failed(self._late(), rows, seconds)
        if not outcome["ok"]:
            return self._failed(failure_reason(self._label, outcome), rows, seconds)
        served = pd.read_parquet(self._workdir / SAMPLE_SCORES_FILE)
        example = pd.read_parquet(self._workdir / EXAMPLE_SCORES_FILE)
        problem, difference = compare_answers(served, as_frame(expected), tolerance=tolerance)
        problem = problem or example_problem(example, outcome["example_rows"], served)
        if problem:
            return ServedCheck(False, f"{self._label} {problem}", rows, difference, seconds)
        reason = f"{self._label} answers as in-process within {tolerance:g} (max {difference:.2g})"
        return ServedCheck(True, reason, rows, difference, seconds)

    def cancel(self) -> None:
        """Stop the process if it is still running (e.g. the run failed before collecting)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
            self._killed = True

    def _failed(self, reason: str, rows: int, seconds: float | None = None) -> ServedCheck:
        elapsed = time.time() - self._started if seconds is None else seconds
        return ServedCheck(False, reason, rows, None, elapsed)

    def _outcome(self) -> dict[str, Any] | str:
        # What the process wrote when it ended, or why it wrote nothing.
        if self._killed:
            return self._late()
        try:
            self._process.wait(timeout=max(0.0, self._deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.cancel()
            return self._late()
        if not (self._workdir / OUTCOME_FILE).exists():
            return (
                f"{self._label}'s check exited with code {self._process.returncode}: {self._tail()}"
            )
        outcome: dict[str, Any] = json.loads((self._workdir / OUTCOME_FILE).read_text("utf-8"))
        return outcome

    def _late(self) -> str:
        return f"{self._label} did not answer through MLflow within {self._timeout:g}s"

    def _tail(self) -> str:
        log = self._workdir / _LOG_FILE
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return lines[-1][:300] if lines else "no output"


def start_served_check(
    model_uri: str,
    sample: pd.DataFrame,
    *,
    tracking_uri: str,
    registry_uri: str,
    workdir: Path,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> PendingServedCheck:
    """Start loading `model_uri` through MLflow in a fresh process; return without waiting.

    Args:
        model_uri: The version to check, e.g. `models:/toy/3`.
        sample: Raw rows of the served columns (a sample of the holdout).
        tracking_uri: MLflow tracking store the process connects to.
        registry_uri: MLflow model registry the process resolves `model_uri` in.
        workdir: An empty folder for the process's files (created when missing).
        timeout_seconds: How long, from now, the process may take before it counts as failed.

    Returns:
        The running check; call `result(expected)` to collect it.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in (OUTCOME_FILE, SAMPLE_SCORES_FILE, EXAMPLE_SCORES_FILE):
        (workdir / stale).unlink(missing_ok=True)
    _plain(sample).to_parquet(workdir / SAMPLE_FILE)
    config = {"model_uri": model_uri, "blocked": list(BLOCKED_PACKAGES)}
    (workdir / CONFIG_FILE).write_text(json.dumps(config), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_REGISTRY_URI": registry_uri}
    with (workdir / _LOG_FILE).open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-I", served_probe.__file__, str(workdir)],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    logger.info("checking %s through MLflow in process %d", model_uri, process.pid)
    return PendingServedCheck(process, workdir, _label(model_uri), timeout_seconds)


def check_served(
    model_uri: str,
    sample: pd.DataFrame,
    expected: Any,
    *,
    tracking_uri: str,
    registry_uri: str,
    workdir: Path,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    tolerance: float = DEFAULT_TOLERANCE,
) -> ServedCheck:
    """Run the served check to the end: `start_served_check`, then `result(expected)`."""
    pending = start_served_check(
        model_uri,
        sample,
        tracking_uri=tracking_uri,
        registry_uri=registry_uri,
        workdir=workdir,
        timeout_seconds=timeout_seconds,
    )
    return pending.result(expected, tolerance=tolerance)


def mark_servable(client: MlflowClient, name: str, version: str, check: ServedCheck) -> None:
    """Tag the version as servable (`driftloop.servable` = "true: ...")."""
    shown = f"true: {check.reason} ({check.rows} rows, {check.seconds:.1f}s)"
    client.set_model_version_tag(name, version, SERVABLE_TAG, shown[:5000])


def mark_not_servable(client: MlflowClient, name: str, version: str, check: ServedCheck) -> None:
    """Tag the version as not servable (`driftloop.servable` = "false: <reason>")."""
    client.set_model_version_tag(name, version, SERVABLE_TAG, f"false: {check.reason}"[:5000])
    logger.warning("%s v%s is not servable: %s", name, version, check.reason)


def _label(model_uri: str) -> str:
    # "models:/toy/3" -> "toy v3"; any other URI (an alias, a run) is named as it is.
    name, _, version = model_uri.removeprefix("models:/").partition("/")
    if model_uri.startswith("models:/") and version.isdigit():
        return f"{name} v{version}"
    return model_uri


def _plain(sample: pd.DataFrame) -> pd.DataFrame:
    # A request brings categories as plain text, not as a pandas Categorical.
    kinds = {
        c: "object" for c in sample.columns if isinstance(sample[c].dtype, pd.CategoricalDtype)
    }
    return sample.astype(kinds) if kinds else sample
