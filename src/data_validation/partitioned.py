"""Validate a folder dataset on its partitions: the suite on a sample, every-row checks on all.

The whole suite sees a seeded sample drawn across the partitions (the same rows on every
engine, see `compute.partitions.sample`), as a large single file is checked on a sample. The
checks a sample would miss (unique ids, no missing time, known labels) run on every row: the
workers read their partitions and send back only the columns those checks name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from compute.engine import Engine
from compute.partitions import Partitions
from config.spec import DatasetSpec
from data_validation.gate import (
    SAMPLE_SEED,
    ValidationOutcome,
    ensure_suites,
    open_context,
    validate_sample,
)
from runs.categories import with_text_categories
from runs.pieces import sample_pieces

Reader = Callable[[Path], pd.DataFrame]
# Partitions named in a failure; more are counted.
MAX_NAMED = 5


def check_partitions(
    root: Path,
    spec: DatasetSpec,
    engine: Engine,
    parts: Partitions,
    *,
    read: Reader,
    load_reference: Callable[[], pd.DataFrame],
    sample_rows: int,
    batch: str | None = None,
) -> tuple[pd.DataFrame, ValidationOutcome]:
    """Validate a folder batch in the GX project at `root`, deriving the suites on first use.

    Args:
        root: The GX project.
        spec: The dataset spec.
        engine: Where the partitions are read.
        parts: The batch's partitions.
        read: Reads one partition as the spec says (runs on the workers).
        load_reference: Reads the reference, when the suites must be derived.
        sample_rows: Rows the whole suite sees at most (0: every row, gathered here).
        batch: The folder's name, which names the validation in Data Docs.

    Returns:
        The rows the whole suite saw (every row when the batch has at most `sample_rows`), and
        the outcome.

    Raises:
        BatchReadError: a partition cannot be read.
    """
    context = open_context(root)
    ensure_suites(context, spec, load_reference)
    whole = sample_rows <= 0 or parts.total <= sample_rows
    sample = sample_pieces(engine, parts, spec, 0 if whole else sample_rows, seed=SAMPLE_SEED)
    gathered: list[pd.DataFrame] = []

    def every_row(columns: list[str]) -> pd.DataFrame:
        gathered.append(every_row_columns(engine, parts, read, spec, columns))
        return gathered[-1]

    outcome = validate_sample(
        context,
        sample,
        spec,
        every_row=None if whole else every_row,
        sample_rows=0 if whole else sample_rows,
        batch=batch,
    )
    seen = gathered[-1] if gathered else sample
    if outcome.success or not (whole or gathered):
        return sample, outcome
    return sample, name_partitions(outcome, seen, parts)


def name_partitions(
    outcome: ValidationOutcome, rows: pd.DataFrame, parts: Partitions
) -> ValidationOutcome:
    """Name the partitions that hold the unexpected values of each every-row failure.

    `rows` are the batch's rows in partition order (every row, or the columns the every-row
    checks read). A failure found in a sample is left as it is: its rows are a sample's.
    """
    raw = _raw_failures(outcome.result)
    named = []
    for failure in outcome.failures:
        values = raw.get((failure.expectation.split("(")[0], failure.column))
        where = (
            _holding(rows, failure.column, values, parts)
            if values is not None and failure.column in rows.columns
            else []
        )
        detail = f"{failure.detail}; in {', '.join(where)}" if where else failure.detail
        named.append(replace(failure, detail=detail))
    return replace(outcome, failures=tuple(named))


def _raw_failures(result: dict[str, Any]) -> dict[tuple[str, str | None], list[Any]]:
    """(expectation type, column) -> the unexpected values GX listed, for every-row checks."""
    validations = result.get("validations", [result])
    found: dict[tuple[str, str | None], list[Any]] = {}
    for validation in validations[-1:]:  # the every-row checks (or the only validation)
        for item in validation.get("results", []):
            details = item.get("result") or {}
            if item.get("success") or "partial_unexpected_list" not in details:
                continue
            config = item["expectation_config"]
            key = (config["type"], (config.get("kwargs") or {}).get("column"))
            found[key] = list(details["partial_unexpected_list"])
    return found


def _holding(rows: pd.DataFrame, column: str, values: list[Any], parts: Partitions) -> list[str]:
    """The partitions (by name) whose rows hold one of `values` in `column`."""
    column_values = rows[column]
    present = [v for v in values if not pd.isna(v)]
    mask = column_values.astype("string").isin({str(v) for v in present})
    if len(present) < len(values):
        mask |= column_values.isna()
    positions = np.flatnonzero(mask.to_numpy(dtype=bool))
    owners = np.unique(np.searchsorted(parts.starts, positions, side="right") - 1)
    shown = [parts.files[i].name for i in owners[:MAX_NAMED]]
    more = len(owners) - len(shown)
    return shown + ([f"{more} more partitions"] if more > 0 else [])


def every_row_columns(
    engine: Engine, parts: Partitions, read: Reader, spec: DatasetSpec, columns: list[str]
) -> pd.DataFrame:
    """`columns` of every row of the partitions, in order, categories as their text."""
    frames = engine.map(_columns_of, parts.files, read, columns)
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return with_text_categories(frame, [c for c in spec.features.categorical if c in columns])


def _columns_of(path: Path, read: Reader, columns: list[str]) -> pd.DataFrame:
    frame = read(path)
    return frame[[c for c in columns if c in frame.columns]].reset_index(drop=True)
