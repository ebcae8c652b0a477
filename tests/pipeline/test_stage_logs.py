"""The stage packages' lines reach Prefect's handlers even where no config names them."""

from __future__ import annotations

import logging

from prefect.settings import (
    PREFECT_LOGGING_EXTRA_LOGGERS,
    PREFECT_LOGGING_LEVEL,
    temporary_settings,
)

from pipeline import params


def test_a_run_outside_the_repository_still_sends_the_stage_lines_to_prefect() -> None:
    to_api, stage = logging.getLogger("prefect.extra"), logging.getLogger("training")
    kept = (list(to_api.handlers), list(stage.handlers), stage.level)
    api = logging.NullHandler()
    to_api.handlers, stage.handlers = [api], []
    stage.setLevel(logging.NOTSET)
    try:
        # A folder without this repository's pyproject.toml configures no extra loggers.
        with temporary_settings({PREFECT_LOGGING_EXTRA_LOGGERS: ""}):
            params.show_stage_logs()
            params.show_stage_logs()
        assert stage.handlers == [api]  # once, however many runs this process makes
        assert stage.level == logging.getLevelName(PREFECT_LOGGING_LEVEL.value())
    finally:
        to_api.handlers, stage.handlers = kept[0], kept[1]
        stage.setLevel(kept[2])
