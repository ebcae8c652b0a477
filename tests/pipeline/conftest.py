"""Unit tests run with a clean driftloop environment."""

from __future__ import annotations

import os

import pytest

from config.settings import get_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No DRIFTLOOP_* variable or cached settings leaks between tests."""
    for name in list(os.environ):
        if name.startswith("DRIFTLOOP_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
