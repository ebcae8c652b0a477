"""The demo's workspace: the local state it made (and only that), and the demo data.

The demo records what it wrote in a marker file; the next demo resets only state the marker
vouches for, so a project's own registry or ledger is never removed without consent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from config.settings import MlflowSettings, PathSettings
from config.spec import lies_inside
from demo_data import DEMO_DATASETS, rainfall, reviews

logger = logging.getLogger(__name__)

DEFAULT_DEMO = DEMO_DATASETS[0]
# Each demo's `dvc.yaml` stage and the function that writes its data without DVC.
DEMO_STAGES = {"rainfall": "demo_data", "reviews": "demo_reviews"}
DEMO_WRITERS: dict[str, Callable[[Path], list[Path]]] = {
    "rainfall": rainfall.write_demo_data,
    "reviews": reviews.write_demo_data,
}
# What `dvc repro` of the demo stages rewrites (dvc.yaml's outs): batches a user added there
# would go. Every demo resets them all, as it resets the registry they share.
DEMO_DATA = tuple(
    path
    for name in DEMO_DATASETS
    for path in (Path(f"data/incoming/{name}"), Path(f"data/reference/{name}.parquet"))
)
DEMO_DATA_KIND = "demo data"
# The files the demos write there (their batches and their references).
DEMO_FILE = re.compile(r"batch-\d{2}\.csv|(" + "|".join(DEMO_DATASETS) + r")\.parquet")
DEMO_MARKER = Path(".driftloop-demo.json")
MARKER_FORMAT = 1
# The reports folder itself stays (it is part of the project layout); its contents go.
KEPT_IN_REPORTS = frozenset({".gitkeep"})


@dataclass(frozen=True)
class StatePath:
    """A place local runs write to: a file, a folder, or (for reports) a folder's contents."""

    path: Path
    kind: str
    contents_only: bool = False


def state_paths(paths: PathSettings, mlflow: MlflowSettings, home: Path) -> list[StatePath]:
    """Where local runs keep state, relative paths anchored at `home`.

    That is the SQLite registry and its artifacts, the ledger, the quarantine, predictions,
    reports and GX results (a tracking server's store is not local state).
    """
    places = [
        StatePath(paths.ledger, "a ledger"),
        StatePath(paths.quarantine, "quarantined batches"),
        StatePath(paths.predictions, "predictions"),
        StatePath(paths.reports, "reports", contents_only=True),
        StatePath(paths.gx_root / "uncommitted" / "validations", "validation results"),
        StatePath(paths.gx_root / "uncommitted" / "data_docs", "data docs"),
    ]
    uri = mlflow.tracking_uri
    if uri.startswith("sqlite:///"):
        places += [
            StatePath(Path(uri.removeprefix("sqlite:///")), "a registry"),
            StatePath(mlflow.artifact_root, "model artifacts"),
        ]
    places += [StatePath(path, DEMO_DATA_KIND) for path in DEMO_DATA]
    return [StatePath(home / p.path, p.kind, p.contents_only) for p in places]


def reset_local_state(paths: PathSettings, mlflow: MlflowSettings) -> list[Path]:
    """Remove what earlier local runs left behind, inside the working directory only.

    Remote stores (a tracking server) and files elsewhere are never touched. Whether the demo
    may remove them is `foreign_state`'s question, asked first.

    Returns:
        The paths removed.
    """
    removed = []
    home = Path.cwd().resolve()
    for place in state_paths(paths, mlflow, home):
        if not lies_inside(place.path, home):
            # A store elsewhere (MLFLOW_TRACKING_URI naming a team's SQLite file, an absolute
            # ledger) is not the demo's to remove.
            continue
        for path in _held(place):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
    return removed


def foreign_state(paths: PathSettings, mlflow: MlflowSettings, home: Path) -> list[StatePath]:
    """The local state inside `home` that the demo's marker does not vouch for.

    The marker vouches for a place whose contents are as the demo last recorded them (after
    each batch, and at its end): what an interrupted demo was writing when it stopped, or
    anything written there since, is foreign. Without a marker, all of it is foreign; empty
    places and places outside `home` (never reset) are not state.
    """
    marker = read_demo_marker(home)
    foreign = []
    for place in state_paths(paths, mlflow, home):
        if not lies_inside(place.path, home) or not _held(place):
            continue
        if place.kind == DEMO_DATA_KIND:
            # The demo's own data (from `dvc repro` or `dvc pull`, with or without a marker)
            # is rewritten as it was; only a file the demo never writes there is someone's.
            if any(not DEMO_FILE.fullmatch(p.name) for p in _files(place)):
                foreign.append(place)
        elif marker is None or not marker.vouches(place, home):
            foreign.append(place)
    return foreign


def write_demo_marker(
    paths: PathSettings, mlflow: MlflowSettings, home: Path, *, finished: bool
) -> Path:
    """Record the state the demo made, as it is now: at its start, after each batch, at its end.

    Returns:
        The marker file.
    """
    state = {
        _key(place.path, home): fingerprint(place, home)
        for place in state_paths(paths, mlflow, home)
        if lies_inside(place.path, home) and _held(place)
    }
    marker = home / DEMO_MARKER
    content = {"format": MARKER_FORMAT, "made_by": "driftloop demo", "finished": finished}
    marker.write_text(json.dumps(content | {"state": state}, indent=2) + "\n", encoding="utf-8")
    return marker


@dataclass(frozen=True)
class DemoMarker:
    """What the marker says: how the demo last left each place, and whether it finished."""

    finished: bool
    state: dict[str, str | None]

    def vouches(self, place: StatePath, home: Path) -> bool:
        """Whether the demo made what `place` in the project `home` holds now."""
        return self.state.get(_key(place.path, home)) == fingerprint(place, home)


def read_demo_marker(home: Path) -> DemoMarker | None:
    """The demo's marker in `home`, or None when there is none (or it is not one)."""
    try:
        content = json.loads((home / DEMO_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(content, dict) or content.get("format") != MARKER_FORMAT:
        return None
    state = content.get("state")
    if not isinstance(state, dict):
        return None
    return DemoMarker(finished=content.get("finished") is True, state=state)


def fingerprint(place: StatePath, home: Path) -> str:
    """A digest of every file's name (from `home`), size and modification time under `place`.

    Sizes and times, not contents: a registry of gigabytes is fingerprinted at once, and any
    later run that writes there (a promotion, a ledger line) changes them.
    """
    digest = hashlib.sha256()
    for path in sorted(_files(place)):
        status = path.stat()
        digest.update(f"{_key(path, home)}\t{status.st_size}\t{status.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _held(place: StatePath) -> list[Path]:
    path = place.path
    if not place.contents_only:
        return [path] if path.is_file() or (path.is_dir() and any(path.iterdir())) else []
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.name not in KEPT_IN_REPORTS)


def _files(place: StatePath) -> list[Path]:
    found = []
    for path in _held(place):
        found += [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return found


def _key(path: Path, home: Path) -> str:
    return path.resolve().relative_to(home.resolve()).as_posix()


def demo_spec(dataset: str = DEFAULT_DEMO) -> Path:
    """The committed spec of the demo `dataset`, relative to the project."""
    return Path(f"data/{dataset}.yaml")


def materialize_demo_data(root: Path, dataset: str = DEFAULT_DEMO) -> str:
    """Produce the demo's data with `dvc repro` where the project is a DVC repo, else directly.

    In a DVC repo every demo's stage is reproduced (a second one takes about a second): the
    reset removed them all, and `dvc status` stays clean only when each stage output is there.

    Returns:
        How the data was produced, for the log.
    """
    stages = [DEMO_STAGES[dataset], *(s for s in DEMO_STAGES.values() if s != DEMO_STAGES[dataset])]
    if (root / "dvc.yaml").is_file() and (root / ".dvc").is_dir():
        # The stage runs `python`: make it this environment's interpreter, not the system one.
        env = {
            **os.environ,
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        }
        done = subprocess.run(
            [sys.executable, "-m", "dvc", "repro", "--quiet", *stages],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
        if done.returncode == 0:
            return f"dvc repro {' '.join(stages)}"
        logger.warning(
            "dvc repro failed (%s); writing the demo data directly", done.stderr.strip()[-300:]
        )
    DEMO_WRITERS[dataset](root / "data")
    return "written directly (no DVC repo here)"
