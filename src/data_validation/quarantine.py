"""Keep a rejected batch, untouched, next to the validation result that rejected it."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from data_validation.errors import DataValidationError, UnreadableBatchError
from data_validation.gate import FailedExpectation, ValidationOutcome

logger = logging.getLogger(__name__)

# The "suite" of a batch that never reached the expectation suite: the file is not a table.
UNREADABLE_SUITE = "readable file"
READ_CHECK = "batch_is_readable"
REASON_FILE = "reason.txt"
# Of one failure in a message; a failure quotes sample values, and one huge cell must not bury
# the other failures (the full text stays in the quarantine folder).
SHOWN_FAILURE_CHARS = 500


def unreadable_outcome(reason: str) -> ValidationOutcome:
    """The verdict on a batch that could not be read, so it is quarantined like any other.

    Args:
        reason: Why the file could not be read (the read error's message).

    Returns:
        A failed outcome with the one check the file broke.
    """
    failure = FailedExpectation(expectation=READ_CHECK, column=None, detail=reason)
    return ValidationOutcome(
        success=False,
        suite=UNREADABLE_SUITE,
        evaluated=1,
        failures=(failure,),
        docs_url=None,
        result={"success": False, "read_error": reason},
    )


def processing_outcome(stage: str, error: BaseException) -> ValidationOutcome:
    """The verdict on a batch the loop could not process, so it is quarantined with the reason.

    Args:
        stage: The stage that failed on the batch (monitor, train).
        error: What it raised.
    """
    detail = " ".join(f"{type(error).__name__}: {error}".split())[:SHOWN_FAILURE_CHARS]
    failure = FailedExpectation(expectation=f"batch_{stage}s", column=None, detail=detail)
    return ValidationOutcome(
        success=False,
        suite=f"{stage} stage",
        evaluated=1,
        failures=(failure,),
        docs_url=None,
        result={"success": False, "stage": stage, "error": detail},
    )


def changed_outcome(name: str, earlier: str, at: str) -> ValidationOutcome:
    """The verdict on a file rewritten under a name a run already processed."""
    detail = (
        f"{name} was processed at {at} with other content (sha256 {earlier[:12]}); a batch is "
        "never edited in place: give the new content a new name"
    )
    failure = FailedExpectation(expectation="batch_is_unchanged", column=None, detail=detail)
    return ValidationOutcome(
        success=False,
        suite="unchanged batch",
        evaluated=1,
        failures=(failure,),
        docs_url=None,
        result={"success": False, "changed": detail},
    )


def is_unreadable(outcome: ValidationOutcome) -> bool:
    """Whether the outcome is that of a batch that could not be read at all."""
    return outcome.suite == UNREADABLE_SUITE


def quarantine_batch(
    batch: Path, outcome: ValidationOutcome, quarantine_dir: Path, *, stamp: str, copy: bool = False
) -> Path:
    """Move `batch` byte-for-byte into `quarantine_dir/<stamp>-<name>/` with its result.

    Beside the file go `validation.json` (the full result) and `reason.txt` (one line per broken
    check, for people). Both are written before the move, so a quarantined file always has them.

    Args:
        batch: The rejected file (or folder dataset).
        outcome: Why it was rejected.
        quarantine_dir: Root of the quarantine.
        stamp: UTC timestamp for the folder name, so a re-sent file never overwrites an earlier one.
        copy: Copy instead of moving (a file DVC tracks stays where its pointer says; the
            ledger keeps it from being processed again).

    Returns:
        The quarantined file's new path.
    """
    folder = quarantine_dir / f"{stamp}-{batch.stem}"
    folder.mkdir(parents=True, exist_ok=False)
    target = folder / batch.name
    summary = {
        "batch": batch.name,
        "suite": outcome.suite,
        "docs_url": outcome.docs_url,
        "failures": [str(f) for f in outcome.failures],
        "result": outcome.result,
    }
    (folder / "validation.json").write_text(
        json.dumps(summary, indent=2, default=str), encoding="utf-8"
    )
    (folder / REASON_FILE).write_text(reason_text(batch.name, outcome), encoding="utf-8")
    if copy and batch.is_dir():  # a folder dataset, partitions and all
        shutil.copytree(batch, target)
    elif copy:
        shutil.copy2(batch, target)
    else:
        shutil.move(batch, target)
    logger.warning(
        "quarantined %s to %s (%d failed checks%s)",
        batch.name,
        folder,
        len(outcome.failures),
        "; a copy: DVC tracks the original" if copy else "",
    )
    return target


def reason_text(name: str, outcome: ValidationOutcome) -> str:
    """Why `name` was quarantined, one broken check per line."""
    verdict = (
        "could not be read"
        if is_unreadable(outcome)
        else f"failed suite {outcome.suite} ({len(outcome.failures)} of {outcome.evaluated} "
        "expectations broken)"
    )
    return f"{name} {verdict}:\n" + "".join(f"- {f}\n" for f in outcome.failures)


def clip_failure(text: str) -> str:
    """`text` cut to `SHOWN_FAILURE_CHARS` characters, for messages."""
    return text if len(text) <= SHOWN_FAILURE_CHARS else text[:SHOWN_FAILURE_CHARS] + "..."


def rejection(
    outcome: ValidationOutcome, batch: str, moved: Path, record: str | None
) -> DataValidationError:
    """The error a run that rejected `batch` fails with: every broken check, where it went.

    Returns:
        An `UnreadableBatchError` when the file is not a table (its read error names the
        batch), else a `DataValidationError` listing every broken expectation.
    """
    failures = tuple(str(f) for f in outcome.failures)
    where = f"quarantined to {moved}; record {record}"
    if is_unreadable(outcome):
        return UnreadableBatchError(
            f"{outcome.failures[0].detail}; {where}", failures=failures, quarantined_to=str(moved)
        )
    listed = "\n  ".join(clip_failure(f) for f in failures)
    return DataValidationError(
        f"batch {batch} failed validation ({len(failures)} broken expectations); "
        f"{where}; Data Docs {outcome.docs_url}:\n  {listed}",
        failures=failures,
        quarantined_to=str(moved),
    )
