"""Validate a folder dataset on its partitions: the suite on a sample, every-row checks on all.

The whole suite sees a seeded sample drawn across the partitions (the same rows on every
engine, see `compute.partitions.sample`), as a large single file is checked on a sample. The
checks a sample would miss (unique ids, no missing time, known labels) run on every row: the
workers read their partitions and send back only the columns those checks name.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

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
    every_row = None if whole else partial(every_row_columns, engine, parts, read, spec)
    outcome = validate_sample(
        context,
        sample,
        spec,
        every_row=every_row,
        sample_rows=0 if whole else sample_rows,
        batch=batch,
    )
    return sample, outcome


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
