"""Shared fixtures: tiny frames, specs, a clean environment per test."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from config.spec import DatasetSpec
from factories import make_frame, toy_spec


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture
def spec(tmp_path: Path) -> DatasetSpec:
    return toy_spec(tmp_path)
