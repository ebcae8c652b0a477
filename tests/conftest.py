"""Shared fixtures: tiny frames, specs, a clean environment per test."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from config.spec import DatasetSpec, FeatureSpec, Task
from factories import make_frame


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture
def spec(tmp_path: Path) -> DatasetSpec:
    return DatasetSpec(
        name="toy",
        task=Task.BINARY,
        target="y",
        timestamp="t",
        features=FeatureSpec(numeric=("x1", "x2"), categorical=("colour",)),
        reference=tmp_path / "reference.parquet",
        incoming=tmp_path / "incoming",
    )
