"""Shared fixtures: tiny frames, specs, a clean environment per test."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from config.spec import DatasetSpec
from factories import make_frame, toy_spec


@pytest.fixture(autouse=True)
def _no_mlflow_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    # MLflow exports the last URI a test connected to as MLFLOW_TRACKING_URI, which driftloop
    # reads when its own setting is not given: no test inherits another's store that way.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture
def spec(tmp_path: Path) -> DatasetSpec:
    return toy_spec(tmp_path)
