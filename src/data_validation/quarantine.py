"""Keep a rejected batch, untouched, next to the validation result that rejected it."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from data_validation.gate import ValidationOutcome

logger = logging.getLogger(__name__)


def quarantine_batch(
    batch: Path, outcome: ValidationOutcome, quarantine_dir: Path, *, stamp: str
) -> Path:
    """Move `batch` byte-for-byte into `quarantine_dir/<stamp>-<name>/` with its result.

    Args:
        batch: The rejected file.
        outcome: Why it was rejected.
        quarantine_dir: Root of the quarantine.
        stamp: UTC timestamp for the folder name, so a re-sent file never overwrites an earlier one.

    Returns:
        The quarantined file's new path.
    """
    folder = quarantine_dir / f"{stamp}-{batch.stem}"
    folder.mkdir(parents=True, exist_ok=False)
    target = folder / batch.name
    shutil.move(batch, target)
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
    logger.warning(
        "quarantined %s to %s (%d failed expectations)", batch.name, folder, len(outcome.failures)
    )
    return target
