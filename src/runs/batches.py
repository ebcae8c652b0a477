"""Find, read and fingerprint batch files."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from runs.errors import BatchReadError, LedgerError

BATCH_SUFFIXES = {".csv", ".parquet"}
# Column naming the file (by content hash) each training row came from.
SOURCE_COLUMN = "__driftloop_source"


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: the batch's identity, whatever it is called."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_batches(incoming: Path) -> list[Path]:
    """Batch files in `incoming`, in name order (the order they are processed in)."""
    if not incoming.is_dir():
        return []
    return sorted(p for p in incoming.iterdir() if p.suffix.lower() in BATCH_SUFFIXES)


def read_batch(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet batch.

    Raises:
        BatchReadError: missing, not CSV/Parquet, or no rows and columns to read.
    """
    if not path.is_file():
        raise BatchReadError(f"batch {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path)
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise BatchReadError(f"cannot read batch {path.name} as {suffix[1:]}: {exc}") from exc
    raise BatchReadError(f"batch {path.name}: unsupported format {suffix!r} (use .csv or .parquet)")


@dataclass(frozen=True)
class BatchFile:
    """A batch waiting to be processed, identified by its content hash."""

    path: Path
    sha256: str

    @property
    def name(self) -> str:
        """The file name."""
        return self.path.name


def find_next_batch(
    incoming: Path, processed: set[str], *, explicit: Path | None = None
) -> BatchFile | None:
    """The batch to process next: `explicit` if given, else the first unprocessed file by name.

    A file whose content was already processed (under any name) is skipped: each batch is
    handled once.

    Raises:
        BatchReadError: `explicit` does not exist.
    """
    if explicit is not None:
        if not explicit.is_file():
            raise BatchReadError(f"batch {explicit} does not exist")
        candidate = BatchFile(explicit, content_hash(explicit))
        return None if candidate.sha256 in processed else candidate
    for path in list_batches(incoming):
        digest = content_hash(path)
        if digest not in processed:
            return BatchFile(path, digest)
    return None


def build_manifest(paths: list[Path], root: Path) -> list[dict[str, str]]:
    """Describe training data files: path (relative to `root` when inside it) and content hash."""
    manifest = []
    for path in paths:
        shown = (
            path.resolve().relative_to(root.resolve())
            if path.resolve().is_relative_to(root.resolve())
            else path.resolve()
        )
        manifest.append({"path": shown.as_posix(), "sha256": content_hash(path)})
    return manifest


def read_manifest(
    manifest: list[dict[str, Any]], root: Path, *, source_column: str | None = None
) -> pd.DataFrame:
    """Read the files of a manifest in order, checking each one is unchanged.

    With `source_column`, each row carries the content hash of the file it came from.

    Raises:
        LedgerError: a file is missing or its content changed since the manifest was written.
    """
    paths = []
    for entry in manifest:
        path = root / entry["path"]
        if not path.is_file() or content_hash(path) != entry["sha256"]:
            raise LedgerError(
                f"training data {entry['path']} is missing or changed since the model was "
                "trained: restore it with `dvc checkout` (or `dvc pull`)"
            )
        paths.append(path)
    frames = [read_batch(p) for p in paths]
    if source_column is not None:
        frames = [
            f.assign(**{source_column: e["sha256"]}) for f, e in zip(frames, manifest, strict=True)
        ]
    return pd.concat(frames, ignore_index=True)
