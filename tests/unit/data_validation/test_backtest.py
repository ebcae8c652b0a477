from __future__ import annotations

import numpy as np

from config.spec import DatasetSpec
from data_validation.backtest import backtest_suite
from factories import make_frame


def test_a_steady_reference_passes_its_own_backtest(spec: DatasetSpec) -> None:
    trial = backtest_suite(spec, make_frame(1000, seed=5))
    assert (trial.batches, trial.rejected, trial.false_rejection_rate) == (5, 0, 0.0)


def test_a_trending_reference_shows_the_suite_would_reject_normal_batches(spec) -> None:
    frame = make_frame(1000, seed=6)
    # Growing tenfold every 230 rows: the newer rows leave even the widened reference range.
    frame["x2"] = np.exp(np.linspace(0, 10, 1000))
    trial = backtest_suite(spec, frame)
    assert trial.batches == 5 and trial.rejected >= 3 and trial.false_rejection_rate >= 0.6
    assert any(failure.startswith("[x2]") for failure in trial.broken)
