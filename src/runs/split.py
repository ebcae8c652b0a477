"""One history file as a reference and time-ordered batches, so a dataset can start the loop.

A "future data" file or a production holdout becomes the reference the first model learns from
and the batches that arrive after it, in time order, without code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from runs.errors import BatchReadError

PERIOD_KEY = "__driftloop_period"


@dataclass(frozen=True)
class SplitPlan:
    """Where the reference ends (a time or a share of rows) and how batches are cut."""

    reference_until: str | None = None
    reference_fraction: float | None = None
    every: str | None = None
    rows: int | None = None


def split_history(
    frame: pd.DataFrame, *, timestamp: str | None, plan: SplitPlan
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Order `frame` in time and cut it into the reference and the batches after it.

    Args:
        frame: The whole history.
        timestamp: The spec's timestamp column (None: the file's row order is time order).
        plan: `reference_until` (rows at or before that time) or `reference_fraction` (the
            oldest share of rows); batches of `every` (a pandas frequency such as "1W" or
            "28D", by the timestamp) or of `rows` rows.

    Returns:
        The reference and the non-empty batches, oldest first.

    Raises:
        BatchReadError: the plan is incomplete, needs a timestamp the spec does not name, or
            leaves no reference or no batch.
    """
    if (plan.reference_until is None) == (plan.reference_fraction is None):
        raise BatchReadError("give one of --reference-until DATE and --reference-fraction F")
    if (plan.every is None) == (plan.rows is None):
        raise BatchReadError("give one of --every FREQUENCY and --rows N")
    if timestamp is None and (plan.reference_until or plan.every):
        raise BatchReadError("--reference-until and --every need the spec's `timestamp` column")
    times = pd.to_datetime(frame[timestamp]) if timestamp else None
    order = times.argsort(kind="stable") if times is not None else range(len(frame))
    ordered = frame.iloc[list(order)].reset_index(drop=True)
    when = times.iloc[list(order)].reset_index(drop=True) if times is not None else None
    if plan.reference_until is not None and when is not None:
        cut = int((when <= pd.Timestamp(plan.reference_until)).sum())
    else:
        cut = round(len(ordered) * float(plan.reference_fraction or 0))
    reference, rest = ordered.iloc[:cut], ordered.iloc[cut:]
    if plan.rows is not None:
        batches = [rest.iloc[i : i + plan.rows] for i in range(0, len(rest), plan.rows)]
    else:
        assert when is not None  # checked above: --every needs the timestamp
        keyed = rest.assign(**{PERIOD_KEY: when.iloc[cut:].to_numpy()})
        grouped = keyed.groupby(pd.Grouper(key=PERIOD_KEY, freq=plan.every), sort=True)
        batches = [group.drop(columns=PERIOD_KEY) for _, group in grouped]
    batches = [b for b in batches if len(b)]
    if reference.empty or not batches:
        raise BatchReadError(
            f"the split leaves {len(reference)} reference rows and {len(batches)} batches: "
            "move the reference cut"
        )
    return reference, batches


def write_split(
    reference: pd.DataFrame, batches: list[pd.DataFrame], *, reference_path: Path, incoming: Path
) -> list[Path]:
    """Write the reference (CSV or Parquet by its name) and numbered CSV batches.

    Nothing is overwritten: an existing reference or batch file stops the split.

    Returns:
        The files written, the reference first.

    Raises:
        BatchReadError: a file the split would write exists already.
    """
    names = [incoming / f"batch-{i:04d}.csv" for i in range(1, len(batches) + 1)]
    existing = [p for p in (reference_path, *names) if p.exists()]
    if existing:
        raise BatchReadError(f"{existing[0]} exists already: split into an empty project")
    reference_path.parent.mkdir(parents=True, exist_ok=True)
    incoming.mkdir(parents=True, exist_ok=True)
    if reference_path.suffix.lower() == ".parquet":
        reference.to_parquet(reference_path, index=False)
    else:
        reference.to_csv(reference_path, index=False)
    for path, batch in zip(names, batches, strict=True):
        batch.to_csv(path, index=False)
    return [reference_path, *names]
