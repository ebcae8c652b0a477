"""One Prefect test harness for the whole session: its temporary server is slow to start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.testing.utilities import prefect_test_harness

# The temporary server takes 20-90 s to start on a busy 2-core machine.
SERVER_STARTUP_SECONDS = 150


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=SERVER_STARTUP_SECONDS):
        yield
