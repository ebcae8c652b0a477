"""Where a model's code and data came from: git commit and a fingerprint of its training data."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from pathlib import Path

from config.manifest import DataFile


def git_commit(cwd: Path) -> str | None:
    """The checked-out commit of the project, or None outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def manifest_hash(manifest: Sequence[DataFile]) -> str:
    """One hash for a list of data files: changes when any file's content or the order changes."""
    digest = hashlib.sha256()
    for entry in manifest:
        digest.update(f"{entry.path}\0{entry.sha256}\n".encode())
    return digest.hexdigest()
