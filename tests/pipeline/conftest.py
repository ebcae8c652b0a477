"""The settings-mapping and CLI tests run with a clean driftloop environment, as unit tests do."""

from __future__ import annotations

from unit.conftest import clean_env  # noqa: F401 - the same autouse fixture, for these tests
