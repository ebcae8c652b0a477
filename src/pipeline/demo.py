"""The built-in demo: reset local state, materialize the demo data with DVC, run every batch."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from config.settings import Settings
from config.spec import load_spec
from data_validation.errors import DataValidationError
from demo_data.rainfall import write_demo_data
from pipeline.context import RunSummary
from pipeline.flows import retraining_flow
from runs.batches import list_batches

logger = logging.getLogger(__name__)

DEMO_STAGE = "demo_data"


def reset_local_state(settings: Settings) -> list[Path]:
    """Remove what earlier local runs left behind.

    That is the SQLite registry and its artifacts, the ledger, the quarantine, predictions,
    reports and GX results. Remote stores (a tracking server) are never touched.

    Returns:
        The paths removed.
    """
    reports = settings.paths.reports
    # The reports folder itself stays (it is part of the project layout); its contents go.
    kept = {".gitkeep"}
    targets = [
        settings.paths.ledger,
        settings.paths.quarantine,
        settings.paths.predictions,
        *(p for p in sorted(reports.glob("*")) if p.name not in kept),
        settings.paths.gx_root / "uncommitted" / "validations",
        settings.paths.gx_root / "uncommitted" / "data_docs",
    ]
    uri = settings.mlflow.tracking_uri
    if uri.startswith("sqlite:///"):
        targets += [Path(uri.removeprefix("sqlite:///")), settings.mlflow.artifact_root]
    removed = []
    for path in targets:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(path)
    return removed


def materialize_demo_data(root: Path) -> str:
    """Produce the demo data with `dvc repro` where the project is a DVC repo, else directly.

    Returns:
        How the data was produced, for the log.
    """
    if (root / "dvc.yaml").is_file() and (root / ".dvc").is_dir():
        # The stage runs `python`: make it this environment's interpreter, not the system one.
        env = {
            **os.environ,
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        }
        done = subprocess.run(
            [sys.executable, "-m", "dvc", "repro", "--quiet", DEMO_STAGE],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        if done.returncode == 0:
            return "dvc repro demo_data"
        logger.warning(
            "dvc repro failed (%s); writing the demo data directly", done.stderr.strip()[-300:]
        )
    write_demo_data(root / "data")
    return "written directly (no DVC repo here)"


def run_demo(settings: Settings, echo: Callable[[str], None] = print) -> list[RunSummary | None]:
    """Run the demo from scratch: one retraining-flow run per batch, one line per outcome."""
    for path in reset_local_state(settings):
        logger.info("reset: removed %s", path)
    how = materialize_demo_data(Path.cwd())
    spec = load_spec(settings.paths.spec)
    batches = list_batches(spec.incoming)
    echo(f"demo data: {how}; {len(batches)} batches in {spec.incoming}")
    outcomes: list[RunSummary | None] = []
    for batch in batches:
        try:
            summary = retraining_flow(spec=str(settings.paths.spec), batch=str(batch))
        except DataValidationError as exc:
            echo(
                f"{batch.name}: rejected, {len(exc.failures)} broken expectations, "
                f"quarantined to {exc.quarantined_to}"
            )
            outcomes.append(None)
            continue
        echo(
            f"{batch.name}: {summary.outcome}: {summary.message} "
            f"[production v{summary.production_version or '-'}]"
        )
        outcomes.append(summary)
    return outcomes
