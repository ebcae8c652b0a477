"""How often the derived suite would reject normal data, measured on the reference itself."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from config.spec import DatasetSpec
from data_validation.gate import ensure_suites, open_context, validate_frame
from data_validation.suite import BACKTEST_SHARE, in_time_order


@dataclass(frozen=True)
class Backtest:
    """The suite derived from the reference's older rows, run on its newer rows in batches."""

    batches: int
    rejected: int
    broken: tuple[str, ...]

    @property
    def false_rejection_rate(self) -> float:
        """The share of normal batches the suite would quarantine."""
        return self.rejected / self.batches if self.batches else 0.0


def backtest_suite(spec: DatasetSpec, reference: pd.DataFrame, *, batches: int = 5) -> Backtest:
    """Derive the suites from the older rows of `reference` and validate its newer rows.

    The newest `BACKTEST_SHARE` of the rows, in time order, is cut into `batches` batches; each
    is a batch the loop should accept, so every rejection is a false one. The suites live in a
    temporary GX project: the dataset's own are not touched.
    """
    ordered = in_time_order(reference, spec.timestamp).reset_index(drop=True)
    cut = round(len(ordered) * (1 - BACKTEST_SHARE))
    older, newer = ordered.iloc[:cut], ordered.iloc[cut:]
    size = max(1, len(newer) // batches)
    chunks = [newer.iloc[i : i + size] for i in range(0, len(newer), size)][:batches]
    with tempfile.TemporaryDirectory() as root:
        context = open_context(Path(root))
        ensure_suites(context, spec, lambda: older)
        outcomes = [validate_frame(context, chunk, spec) for chunk in chunks if len(chunk)]
    broken = tuple(dict.fromkeys(str(f) for o in outcomes for f in o.failures))
    return Backtest(len(outcomes), sum(not o.success for o in outcomes), broken)
