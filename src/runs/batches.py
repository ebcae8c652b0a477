"""Find, read and fingerprint batch files."""

from __future__ import annotations

import codecs
import csv
import hashlib
import logging
import os
import shutil
import stat
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from compute.errors import PartitionError
from compute.partitions import folder_digests, is_partitioned, newest_change, partition_files
from config.errors import ConfigError, SpecError
from config.manifest import DataFile, Manifest
from config.spec import ColumnTypes, DatasetSpec
from runs.categories import with_text_categories
from runs.errors import BatchReadError, LedgerError
from runs.times import parse_timestamps

logger = logging.getLogger(__name__)

BATCH_SUFFIXES = {".csv", ".parquet"}
# Column naming the file (by content hash) each training row came from.
SOURCE_COLUMN = "__driftloop_source"
# Largest batch loaded into memory at once; a larger file is quarantined rather than read.
MAX_BATCH_BYTES = 2 * 1024**3
NO_TYPES = ColumnTypes()
SNIFF_BYTES = 4096
SHOWN_ERROR_CHARS = 300
PARQUET_MAGIC = b"PAR1"
_MAGIC = (
    (b"\x1f\x8b", "gzip-compressed data (decompress it first)"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an old-style Office document (an Excel .xls workbook?)"),
    (PARQUET_MAGIC, "a Parquet file (name it .parquet)"),
    (b"%PDF", "a PDF document"),
    (b"\xff\xfe", "UTF-16 text (byte-order mark 0xff 0xfe); save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text (byte-order mark 0xfe 0xff); save it as UTF-8"),
)
# What pandas and pyarrow raise for a file they cannot parse (after the checks above).
_READ_ERRORS = (ValueError, OSError, OverflowError, csv.Error, pa.ArrowException)


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: the batch's identity, whatever it is called.

    A folder dataset's identity is the hash of its partitions' names and hashes.
    """
    if is_partitioned(path):
        try:
            return folder_digests(path, file_digests)[0]
        except PartitionError as exc:
            raise BatchReadError(f"cannot read batch {path.name}: {exc}") from exc
    return file_digests(path)[0]


def file_digests(path: Path) -> tuple[str, str]:
    """SHA-256 and MD5 of the file's bytes, in one read (MD5 is DVC's key for the content).

    A folder dataset gets the digests of its partitions' names and digests
    (`compute.partitions.folder_digests`).
    """
    if is_partitioned(path):
        return folder_digests(path, file_digests)
    digest, dvc = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            dvc.update(block)
    return digest.hexdigest(), dvc.hexdigest()


def list_batches(incoming: Path) -> list[Path]:
    """Batch files in `incoming`, in name order (the order they are processed in).

    Only regular files that are really inside the folder count: a link that leads out of it,
    a FIFO (which would block the scan while the run lock is held) or a device is skipped
    with a warning. A folder of Parquet files is one batch (a partitioned dataset).
    """
    if not incoming.is_dir():
        return []
    found = []
    for path in sorted(p for p in incoming.iterdir() if _is_batch_entry(p)):
        reason = unsafe_reason(path, incoming)
        if reason is None:
            found.append(path)
        else:
            logger.warning("skipping %s in incoming: %s", path.name, reason)
    return found


def _is_batch_entry(path: Path) -> bool:
    if path.name.startswith((".", "_")):
        return False
    if path.suffix.lower() in BATCH_SUFFIXES:
        return True
    return path.is_dir() and not path.is_symlink()


def _still_arriving(path: Path, settle_seconds: float, ready_marker: str | None) -> str | None:
    if ready_marker is not None and not path.with_name(path.name + ready_marker).exists():
        return f"no {path.name}{ready_marker} marker yet"
    changed = newest_change(path) if is_partitioned(path) else path.stat().st_mtime
    age = time.time() - changed
    if age < settle_seconds:
        return f"modified {age:.0f} s ago; files settle for {settle_seconds:.0f} s"
    return None


def unsafe_reason(path: Path, incoming: Path) -> str | None:
    """Why `path` may not be read as a batch of `incoming` (None: it may)."""
    mode = path.lstat().st_mode
    target = path.resolve()
    if (
        stat.S_ISLNK(mode)
        and not target.is_relative_to(incoming.resolve())
        and not _in_dvc_cache(target, incoming)
    ):
        return f"a link to {target}, outside the incoming folder"
    kind = path.stat().st_mode if path.exists() else mode
    if stat.S_ISDIR(kind) and not stat.S_ISLNK(mode):
        return None if any(partition_files_or_none(path)) else "a folder without Parquet files"
    if not stat.S_ISREG(kind):
        return "not a regular file (a FIFO, device or folder)"
    return None


def partition_files_or_none(folder: Path) -> list[Path]:
    """The Parquet partitions of a folder dataset; empty when it holds none."""
    try:
        return partition_files(folder)
    except PartitionError:
        return []


def _in_dvc_cache(target: Path, incoming: Path) -> bool:
    """Whether `target` is in the DVC cache of the repository holding `incoming`.

    With DVC's `cache.type symlink`, a batch DVC tracks is a link into that cache.
    """
    for folder in (incoming.resolve(), *incoming.resolve().parents):
        if (folder / ".dvc").is_dir():
            return target.is_relative_to((folder / ".dvc" / "cache").resolve())
    return False


def read_batch(
    path: Path, *, max_bytes: int | None = None, types: ColumnTypes | None = None
) -> pd.DataFrame:
    """Read a CSV or Parquet batch, refusing files that are not a well-formed table.

    The file is checked before pandas sees it (size, what its first bytes say it is), and a CSV
    is checked for what pandas would silently repair (duplicate header names, a last row cut off).

    Args:
        path: The batch file.
        max_bytes: Largest file loaded at once; default `MAX_BATCH_BYTES` (read at call time).
        types: The spec's column types: categorical columns are read as categories of text
            (see `runs.categories`), the timestamp is parsed (`runs.times`).

    Raises:
        BatchReadError: missing, too large, not CSV/Parquet, not UTF-8, or malformed; the
            message names the file and the reason.
    """
    declared = types or NO_TYPES
    if is_partitioned(path):
        return read_folder(path, types=declared, max_bytes=max_bytes)
    if not path.is_file():
        raise BatchReadError(f"batch {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in BATCH_SUFFIXES:
        raise BatchReadError(
            f"batch {path.name}: unsupported format {suffix!r} (use .csv or .parquet)"
        )
    reason = _refusal(path, suffix, MAX_BATCH_BYTES if max_bytes is None else max_bytes)
    if reason is not None:
        raise BatchReadError(f"cannot read batch {path.name}: {reason}")
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:  # as text from the start, so "01" keeps its zero
            frame = pd.read_csv(path, dtype=dict.fromkeys(declared.categorical, "category"))
    except UnicodeDecodeError as exc:
        raise BatchReadError(f"cannot read batch {path.name}: {_not_utf8(path)}") from exc
    except _READ_ERRORS as exc:
        detail = " ".join(str(exc).split())[:SHOWN_ERROR_CHARS] or type(exc).__name__
        raise BatchReadError(f"cannot read batch {path.name} as {suffix[1:]}: {detail}") from exc
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        raise BatchReadError(f"cannot read batch {path.name}: duplicate column names {duplicated}")
    return _typed(frame, declared)


def read_folder(
    folder: Path, *, types: ColumnTypes | None = None, max_bytes: int | None = None
) -> pd.DataFrame:
    """Read a whole folder dataset: its partitions (each read as `read_batch` reads a file).

    Categories of text are made whole again across partitions (each file has its own set).

    Raises:
        BatchReadError: no Parquet file in the folder, or a partition `read_batch` refuses.
    """
    files = partition_files_or_none(folder)
    if not files:
        raise BatchReadError(f"cannot read batch {folder.name}: a folder without Parquet files")
    frames = [read_batch(f, types=types, max_bytes=max_bytes) for f in files]
    if len(frames) == 1:
        return frames[0]
    return with_text_categories(
        pd.concat(frames, ignore_index=True), (types or NO_TYPES).categorical
    )


def _refusal(path: Path, suffix: str, max_bytes: int) -> str | None:
    size = path.stat().st_size
    if size == 0:
        return "empty file (0 bytes)"
    if size > max_bytes:
        return f"too large to load at once ({size} bytes > limit {max_bytes} bytes)"
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
        handle.seek(max(0, size - SNIFF_BYTES))
        tail = handle.read()
    if suffix == ".parquet":
        if not head.startswith(PARQUET_MAGIC):
            return f"not a Parquet file ({_looks_like(head) or 'no PAR1 magic bytes'})"
        return None if tail.endswith(PARQUET_MAGIC) else "truncated Parquet file (no footer)"
    kind = _looks_like(head)
    if kind is not None:
        return f"not CSV: {kind}"
    return _csv_shape(path, tail)


def _looks_like(head: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    start = head.lstrip().lower()
    if start.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "an HTML page (an error page saved in place of the data?)"
    if start.startswith(b"<?xml"):
        return "an XML document"
    if b"\x00" in head:
        return "binary data (NUL bytes)"
    return None


def _csv_shape(path: Path, tail: bytes) -> str | None:
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        first = handle.readline(SNIFF_BYTES * 16)
    try:
        header = next(csv.reader([first]), [])
        last = next(csv.reader([tail.rsplit(b"\n", 1)[-1].decode("utf-8", "replace")]), [])
    except csv.Error:
        return None  # pandas reads (or refuses) what the csv module cannot split
    names = [n.strip() for n in header]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        return f"duplicate column names {duplicated}"
    if not tail.endswith((b"\n", b"\r")) and b"\n" in tail and 0 < len(last) < len(header):
        return f"truncated mid-row: the last line has {len(last)} of {len(header)} fields"
    return None


def _not_utf8(path: Path) -> str:
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return f"not UTF-8: byte 0x{block[exc.start]:02x} at offset {offset + exc.start}"
            offset += len(block)
    return "not UTF-8: the file ends inside a multi-byte character"


@dataclass(frozen=True)
class BatchFile:
    """A batch waiting to be processed, identified by its content hash."""

    path: Path
    sha256: str

    @property
    def name(self) -> str:
        """The file name."""
        return self.path.name


def check_named_batch(explicit: Path, incoming: Path) -> None:
    """Refuse a batch named by a run that is missing, not a plain file, or outside `incoming`.

    Raises:
        BatchReadError: the message names the file and the fix.
    """
    if not explicit.exists():
        raise BatchReadError(f"batch {explicit} does not exist")
    unsafe = unsafe_reason(explicit, explicit.parent)
    if unsafe is not None:
        raise BatchReadError(f"batch {explicit} is {unsafe}")
    if not explicit.resolve().is_relative_to(incoming.resolve()):
        # A rejected batch is moved into quarantine: only files in incoming may be moved.
        raise BatchReadError(
            f"batch {explicit} is outside the dataset's incoming folder {incoming}; "
            "copy it there first"
        )


def find_next_batch(
    incoming: Path,
    processed: set[str],
    *,
    explicit: Path | None = None,
    settle_seconds: float = 0.0,
    ready_marker: str | None = None,
) -> BatchFile | None:
    """The batch to process next: `explicit` if given, else the first unprocessed file by name.

    A file whose content was already processed (under any name) is skipped: each batch is
    handled once. When scanning, a file is taken only once it is complete: not modified for
    `settle_seconds` (an upload in progress keeps changing it) and, with `ready_marker`, once
    `<file><marker>` exists; until then it and the files after it wait for a later run (with
    a log line), so batches are processed in name order.

    Raises:
        BatchReadError: `explicit` does not exist or lies outside `incoming`.
    """
    if explicit is not None:
        check_named_batch(explicit, incoming)
        candidate = BatchFile(explicit, content_hash(explicit))
        return None if candidate.sha256 in processed else candidate
    for path in list_batches(incoming):
        digest = content_hash(path)
        if digest in processed:
            continue
        waiting = _still_arriving(path, settle_seconds, ready_marker)
        if waiting is not None:  # later files wait behind it: batches go in name order
            logger.info("%s is not taken yet: %s", path.name, waiting)
            return None
        return BatchFile(path, digest)
    return None


def build_manifest(paths: Sequence[Path], root: Path) -> Manifest:
    """Describe training data files: path (relative to `root` when inside it) and content hashes.

    A link is named by its own path: with DVC's `cache.type symlink` a batch is a link into the
    DVC cache, and following it would name the cache file instead of the batch.
    """
    manifest = []
    for path in paths:
        sha256, md5 = file_digests(path)
        shown = _shown_path(path, root)
        manifest.append(DataFile(path=shown.as_posix(), sha256=sha256, md5=md5))
    return tuple(manifest)


def _shown_path(path: Path, root: Path) -> Path:
    plain, home = Path(os.path.abspath(path)), Path(os.path.abspath(root))  # noqa: PTH100
    if plain.is_relative_to(home):
        return plain.relative_to(home)
    real, home = path.resolve(), root.resolve()  # `root` reached through a link
    return real.relative_to(home) if real.is_relative_to(home) else real


def read_manifest(
    manifest: Sequence[DataFile],
    root: Path,
    *,
    source_column: str | None = None,
    known: Mapping[str, pd.DataFrame] | None = None,
    types: ColumnTypes | None = None,
) -> pd.DataFrame:
    """Read the files of a manifest in order, checking each one is unchanged.

    With `source_column`, each row carries the content hash of the file it came from. Files
    whose content hash is in `known` are taken from there (a run already holds them in memory)
    instead of being read again. `types` are read as `read_batch` reads them.

    Raises:
        LedgerError: a file is missing or its content changed since the manifest was written.
    """
    held = known or {}
    frames = []
    for entry in manifest:
        if entry.sha256 in held:
            frames.append(held[entry.sha256])
            continue
        path = root / entry.path
        if not path.exists() or content_hash(path) != entry.sha256:
            raise LedgerError(
                f"training data {entry.path} is missing or changed since the model was "
                f"trained{f' (DVC md5 {entry.md5})' if entry.md5 else ''}: `driftloop data "
                "VERSION` says where each file of a version is, `--restore DIR` brings them back"
            )
        frames.append(read_batch(path, types=types))
    if source_column is not None:
        frames = [
            f.assign(**{source_column: e.sha256}) for f, e in zip(frames, manifest, strict=True)
        ]
    # One file needs no concatenation, which would copy it.
    if len(frames) == 1:
        return frames[0]
    # Files with different category sets concatenate to plain text: make it categories again.
    return with_text_categories(
        pd.concat(frames, ignore_index=True), (types or NO_TYPES).categorical
    )


def file_columns(path: Path) -> list[str]:
    """The column names of a CSV or Parquet file, read from its header or schema alone.

    A folder dataset's columns are those of its first partition.
    """
    if is_partitioned(path):
        files = partition_files_or_none(path)
        return list(pq.read_schema(files[0]).names) if files else []
    if path.suffix.lower() == ".parquet":
        return list(pq.read_schema(path).names)
    return [str(c) for c in pd.read_csv(path, nrows=0).columns]


def check_reference(spec: DatasetSpec) -> None:
    """Refuse a spec whose reference is missing or lacks a column the spec names.

    Raises:
        SpecError: names the file, each missing column with the spec field naming it, and the
            columns the file has.
    """
    path = spec.reference
    if not (path.is_file() or (is_partitioned(path) and partition_files_or_none(path))):
        raise SpecError(f"reference {path} not found: fix `reference` in the dataset spec")
    try:
        present = set(file_columns(path))
    except _READ_ERRORS as exc:
        raise SpecError(f"reference {path} is not a readable table: {exc}") from None
    needed = [*spec.required_columns, *(c for c in spec.label_columns if c not in spec.derived)]
    missing = [c for c in dict.fromkeys(needed) if c not in present]
    if missing:
        named = ", ".join(f"{c!r} ({spec.role_of(c)})" for c in missing)
        raise SpecError(
            f"the reference {path.name} lacks {named}, named in the dataset spec; it has: "
            + ", ".join(sorted(present))
        )


def check_replay_folders(batches: Path, out: Path, reference: Path) -> None:
    """Refuse a replay whose output folder overlaps what it reads.

    A replay rewrites its output folder: with the batches or the reference inside it they would
    be deleted, and with the output inside the batches folder its files (timeline.csv, the
    ledger) would be read as batches by the next replay.

    Raises:
        ConfigError: the folders overlap; the message names both and the fix.
    """
    out_at, batches_at = out.resolve(), batches.resolve()
    clash = None
    if out_at == batches_at or batches_at.is_relative_to(out_at):
        clash = f"the batches folder {batches} is inside the output folder {out}"
    elif out_at.is_relative_to(batches_at):
        clash = f"the output folder {out} is inside the batches folder {batches}"
    elif reference.resolve().is_relative_to(out_at):
        clash = f"the spec's reference {reference} is inside the output folder {out}"
    if clash:
        raise ConfigError(
            f"{clash}, and a replay rewrites its output: choose an --out folder apart from both"
        )


def copy_batches(source: Path, target: Path) -> list[Path]:
    """Copy the batch files of `source` into a fresh `target` (the originals are never moved).

    Raises:
        BatchReadError: `source` is `target` or inside it, which making it fresh would delete.
    """
    if source.resolve().is_relative_to(target.resolve()):
        raise BatchReadError(
            f"the batches folder {source} is inside {target}, which the replay recreates: "
            "choose an output folder that does not contain the batches"
        )
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    return [
        Path(
            shutil.copytree(p, target / p.name) if p.is_dir() else shutil.copy2(p, target / p.name)
        )
        for p in list_batches(source)
    ]


def _typed(frame: pd.DataFrame, types: ColumnTypes) -> pd.DataFrame:
    frame = with_text_categories(frame, types.categorical)
    column = types.timestamp
    if column is None or column not in frame.columns:
        return frame
    parsed = parse_timestamps(frame[column], format=types.timestamp_format, timezone=types.timezone)
    return frame if parsed is frame[column] else frame.assign(**{column: parsed})
