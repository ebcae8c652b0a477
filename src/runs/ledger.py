"""The run ledger: one line per processed batch, so every batch is handled exactly once."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Literal

from runs.batches import BatchFile, find_next_batch
from runs.errors import LedgerError

logger = logging.getLogger(__name__)

# "monitored": measured by a monitoring-only run; the retraining flow still processes it.
# "approved": a person released the model a run trained on the batch (`driftloop approve`); the
# batch's own entry is the run's, and this one only adds that its model reached production.
Status = Literal["accepted", "quarantined", "monitored", "approved"]


@dataclass(frozen=True)
class LedgerEntry:
    """What became of one batch."""

    batch: str
    sha256: str
    status: Status
    labelled: bool
    rows: int
    path: str
    run_id: str
    at: str
    fired: bool = False
    retrained: bool = False
    decision: str = ""
    regime_start: bool = False
    actor: str = ""
    # The dataset the batch belongs to; empty in entries written before datasets were named,
    # which every dataset reads as its own.
    dataset: str = ""


def restored_entry(data: dict[str, object]) -> LedgerEntry:
    """An entry as the tracking store keeps it; fields this version does not know are dropped."""
    known = {f.name for f in fields(LedgerEntry)}
    return LedgerEntry(**{k: v for k, v in data.items() if k in known})  # type: ignore[arg-type]


def read_ledger(path: Path, dataset: str | None = None) -> list[LedgerEntry]:
    """All entries, oldest first (an absent ledger is empty); with `dataset`, only its own.

    Datasets may share one ledger file: each sees its own entries only, so one never skips a
    batch because another dataset processed the same bytes.

    A last line cut off mid-write (a crash or a full disk during an append: no newline at its
    end) is not an entry that was ever recorded: it is left out, with a warning, and the batch
    it was about is processed again; the next append removes it from the file (a reader never
    writes: it may be reading while a run appends).

    Raises:
        LedgerError: a complete line is not an entry (someone edited the file).
    """
    if not path.is_file():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    entries = []
    for number, raw in enumerate(lines, start=1):
        line = raw.decode("utf-8", errors="replace").strip()
        if not line:
            continue
        try:
            entries.append(LedgerEntry(**json.loads(line)))
        except (ValueError, TypeError) as exc:
            if number == len(lines):  # no newline after it: a torn tail
                logger.warning("%s: a last line cut off mid-write is left out: %.80s", path, line)
                break
            raise LedgerError(
                f"{path}:{number} is not a ledger entry ({exc}); fix or remove the line"
            ) from None
    if dataset is None:
        return entries
    return [e for e in entries if e.dataset in (dataset, "")]


def _repair_tail(path: Path) -> str:
    """Make the file end at a line boundary before an append; return what to write first.

    A torn last line (not an entry) is cut off; a complete last entry whose newline was lost
    gets one.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return ""
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return ""
    keep = data.rfind(b"\n") + 1
    tail = data[keep:].decode("utf-8", errors="replace").strip()
    try:
        LedgerEntry(**json.loads(tail))
    except (ValueError, TypeError):
        logger.warning("%s: removing a last line cut off mid-write: %.80s", path, tail)
        with path.open("r+b") as handle:
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
        return ""
    return "\n"


def append_entry(path: Path, entry: LedgerEntry) -> None:
    """Add an entry: one JSON line, on disk (fsync) before returning.

    The line is written with one `write` call; a crash mid-write leaves a torn last line,
    which `read_ledger` leaves out and the next append removes. Appends happen under the run
    lock.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    line = _repair_tail(path) + json.dumps(asdict(entry), sort_keys=True) + "\n"
    with path.open("a", encoding="utf-8", newline="\n") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def processed_hashes(entries: list[LedgerEntry], *, monitoring: bool = False) -> set[str]:
    """Content hashes of the batches a run should skip.

    The retraining flow skips batches already accepted or quarantined; a monitoring-only run
    also skips the ones an earlier monitoring run measured.
    """
    return {e.sha256 for e in entries if monitoring or e.status != "monitored"}


def accepted_entries(entries: list[LedgerEntry]) -> list[LedgerEntry]:
    """Batches a retraining run processed, in arrival order (the retrain policy's history)."""
    return [e for e in entries if e.status == "accepted"]


def training_entries(entries: list[LedgerEntry]) -> list[LedgerEntry]:
    """Accepted, labelled batches in arrival order: what a model may be trained on."""
    return [e for e in entries if e.status == "accepted" and e.labelled]


def current_regime(entries: list[LedgerEntry]) -> tuple[bool, list[LedgerEntry]]:
    """Labelled batches since the last change (its first batch included), oldest first.

    Returns:
        Whether a change was ever recorded (if not, the regime starts at the reference data),
        and the batches of the current regime.
    """
    usable = training_entries(entries)
    approved = {e.sha256 for e in entries if e.status == "approved" and e.regime_start}
    starts = [i for i, e in enumerate(usable) if e.regime_start or e.sha256 in approved]
    return (True, usable[starts[-1] :]) if starts else (False, usable)


def approval_entry(
    entries: list[LedgerEntry], sha256: str, *, actor: str, at: str, note: str
) -> LedgerEntry | None:
    """The entry that records a person's release of a model that starts a new regime.

    A run that held its challenger for approval could not know whether it would reach
    production, so its entry leaves `regime_start` unset; this one, appended when it does, sets
    it for the batch (None: the ledger has no accepted entry of the batch).
    """
    found = [e for e in entries if e.sha256 == sha256 and e.status == "accepted"]
    if not found:
        return None
    return replace(
        found[0], status="approved", regime_start=True, actor=actor, at=at, decision=note
    )


def pending_batch(
    ledger_path: Path,
    incoming: Path,
    *,
    explicit: Path | None,
    monitoring: bool = False,
    dataset: str | None = None,
    settle_seconds: float = 0.0,
    ready_marker: str | None = None,
) -> BatchFile | None:
    """The batch to process next (`explicit`, or the first in `incoming` no such run handled).

    Raises:
        BatchReadError: `explicit` does not exist or lies outside `incoming`.
        LedgerError: a ledger line is not an entry.
    """
    processed = processed_hashes(read_ledger(ledger_path, dataset), monitoring=monitoring)
    return find_next_batch(
        incoming,
        processed,
        explicit=explicit,
        settle_seconds=settle_seconds,
        ready_marker=ready_marker,
    )


def changed_in_place(entries: list[LedgerEntry], batch: BatchFile) -> LedgerEntry | None:
    """An accepted batch's entry under this file's name with other content, if any.

    Such a file was rewritten after a run took it (an upload that was still going on, or an
    export written over the old one): the old entry no longer describes the file, and the
    rows the two share would count twice. (A quarantined file was moved away: a new file
    under its name is a new batch.)
    """
    here = batch.path.resolve()
    for entry in entries:
        if entry.status != "accepted" or entry.sha256 == batch.sha256:
            continue
        if entry.batch == batch.path.name and Path(entry.path).resolve() == here:
            return entry
    return None


def regime_files(entries: list[LedgerEntry], reference: Path, batch: Path | None) -> list[Path]:
    """Labelled data files since the last change (from the reference when there was none).

    `batch` (this run's batch, when it is labelled) comes last.
    """
    changed, regime = current_regime(entries)
    paths = ([] if changed else [reference]) + [Path(e.path) for e in regime]
    return [*paths, batch] if batch is not None else paths


def history_files(
    ledger_path: Path, reference: Path, *, before: str | None, dataset: str | None = None
) -> list[Path]:
    """The reference and the accepted batches, oldest first: what lags of a batch look back on.

    Quarantined files never count. With `before` (a batch's content hash), only the entries
    before its first one count, so a rerun of a processed batch looks back on the same history.
    """
    entries = read_ledger(ledger_path, dataset)
    seen = [i for i, e in enumerate(entries) if e.sha256 == before and e.status != "monitored"]
    accepted = accepted_entries(entries[: seen[0]] if seen else entries)
    return [reference, *(Path(e.path) for e in accepted)]
