from __future__ import annotations

import numpy as np
import pandas as pd

from config.spec import DatasetSpec, FeatureSpec, Task
from data_validation.suite import UNSEEN_CATEGORY_FLOOR, build_suites, unseen_allowance


def test_a_column_whose_stream_keeps_adding_values_is_allowed_new_ones() -> None:
    # Month after month, about one row in ten names a merchant the past never had.
    rng = np.random.default_rng(0)
    merchants = [
        f"new-{i}" if rng.random() < 0.1 else f"shop-{rng.integers(0, 20)}" for i in range(1000)
    ]
    allowance = unseen_allowance(pd.Series(merchants))
    assert 0.15 < allowance < 0.3


def test_a_five_level_column_gets_the_floor() -> None:
    levels = pd.Series(np.random.default_rng(1).choice(list("abcde"), 1000))
    assert unseen_allowance(levels) == UNSEEN_CATEGORY_FLOOR


def test_the_suite_measures_the_stream_in_time_order_not_file_order() -> None:
    # New codes arrive over time; the file is stored newest first.
    codes = [f"c{i // 10}" for i in range(500)]
    frame = pd.DataFrame({"t": range(500), "code": codes, "y": [0, 1] * 250}).iloc[::-1]
    spec = DatasetSpec(
        name="s",
        task=Task.BINARY,
        target="y",
        timestamp="t",
        features=FeatureSpec(categorical=("code",)),
        reference="r.parquet",
        incoming="in",
    )
    [labelled, _] = build_suites(spec, frame)
    [in_set] = [
        e
        for e in labelled.expectations
        if e.expectation_type.endswith("be_in_set") and getattr(e, "column", None) == "code"
    ]
    assert in_set.mostly < 0.9  # one new code in every ten rows, doubled
