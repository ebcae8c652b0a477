"""Lock files that make one dataset's runs take turns and serialize its model's releases.

Both are files in one folder (next to the run ledger): runs on one host, or on hosts that share
that folder, coordinate through them, and the OS releases a lock when its process dies.
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock


def release_lock(folder: Path, name: str, *, timeout: float) -> FileLock:
    """The lock that serializes releases of one model (promotions, repairs, rollbacks)."""
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(folder / f"{name}.release.lock", timeout=timeout)


def run_lock(folder: Path, name: str, *, timeout: float) -> FileLock:
    """The lock that makes runs of one dataset take turns (batches are processed in order).

    A second run started meanwhile waits, then takes the next unprocessed batch, so each batch
    is processed once.
    """
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(folder / f"{name}.run.lock", timeout=timeout)
