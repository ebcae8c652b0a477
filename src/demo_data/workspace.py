"""The demo's workspace: reset what earlier local runs left, materialize the demo data."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from config.settings import MlflowSettings, PathSettings
from config.spec import lies_inside
from demo_data.rainfall import write_demo_data

logger = logging.getLogger(__name__)

DEMO_STAGE = "demo_data"


def reset_local_state(paths: PathSettings, mlflow: MlflowSettings) -> list[Path]:
    """Remove what earlier local runs left behind.

    That is the SQLite registry and its artifacts, the ledger, the quarantine, predictions,
    reports and GX results, inside the working directory only. Remote stores (a tracking
    server) and files elsewhere are never touched.

    Returns:
        The paths removed.
    """
    reports = paths.reports
    # The reports folder itself stays (it is part of the project layout); its contents go.
    kept = {".gitkeep"}
    targets = [
        paths.ledger,
        paths.quarantine,
        paths.predictions,
        *(p for p in sorted(reports.glob("*")) if p.name not in kept),
        paths.gx_root / "uncommitted" / "validations",
        paths.gx_root / "uncommitted" / "data_docs",
    ]
    uri = mlflow.tracking_uri
    if uri.startswith("sqlite:///"):
        targets += [Path(uri.removeprefix("sqlite:///")), mlflow.artifact_root]
    removed = []
    home = Path.cwd().resolve()
    for path in targets:
        if not lies_inside(path, home):
            # A store elsewhere (MLFLOW_TRACKING_URI naming a team's SQLite file, an absolute
            # ledger) is not the demo's to remove.
            continue
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
