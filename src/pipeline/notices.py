"""Pipeline events to the configured webhook; a notice that cannot be sent never fails a run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
from prefect import Flow
from prefect.client.schemas.objects import FlowRun
from prefect.states import State

from config.errors import ConfigError
from config.settings import Settings, get_settings
from config.spec import load_spec
from data_validation.errors import DataValidationError
from delivery.notify import Notification, send_notification

logger = logging.getLogger(__name__)


def notify(settings: Settings, notification: Notification) -> bool:
    """Post the notification when a webhook is configured; say whether it was delivered."""
    url = settings.notify.webhook_url
    if url is None:
        return False
    with httpx.Client(timeout=settings.notify.timeout_seconds) as client:
        return send_notification(client, url.get_secret_value(), notification)


def notify_failed_run(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Prefect on_failure hook: tell the channel a run failed, and why.

    A rejected batch was already announced as such by the run itself.
    """
    error = state.result(raise_on_failure=False)
    if isinstance(error, DataValidationError):
        return
    try:
        settings = get_settings()
    except ConfigError:
        return  # without valid settings there is no webhook to tell
    try:
        dataset = load_spec(Path(flow_run.parameters.get("spec") or settings.paths.spec)).name
    except ConfigError:
        dataset = "unknown dataset"
    notify(
        settings,
        Notification(
            "run_failed",
            dataset,
            f"{flow.name} run {flow_run.name} failed: {type(error).__name__}: {error}"[:500],
            batch=flow_run.parameters.get("batch"),
        ),
    )
