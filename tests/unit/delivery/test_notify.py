from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import get_args

import httpx
import pytest

from delivery.notify import Event, Notification, build_message, send_notification
from fakes import Answer, WebhookState, fake_webhook

SECRET = "T0001/B0002/xoxwebhooksecret"

PROMOTED = Notification(
    "model_promoted",
    "rainfall",
    "roc_auc 0.86 > 0.84 + 0.01: promoted",
    batch="b3-drift.csv",
    model_version="8",
    previous_version="7",
    record="reports/record-20260509T120000Z.md",
    details={"drift": "0.41 > 0.30"},
)


@pytest.fixture
def webhook() -> Iterator[WebhookState]:
    with fake_webhook(f"/services/{SECRET}") as state:
        yield state


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def notify(url: str, notification: Notification = PROMOTED, **options) -> tuple[bool, Sleeps]:
    sleeps = Sleeps()
    with httpx.Client(timeout=options.pop("timeout", 5.0)) as client:
        return send_notification(client, url, notification, sleep=sleeps, **options), sleeps


def test_message_is_slack_compatible_and_carries_the_event_fields() -> None:
    message = build_message(PROMOTED)
    assert message["text"] == (
        "[driftloop] Model promoted: rainfall: roc_auc 0.86 &gt; 0.84 + 0.01: promoted"
    )
    header, summary, facts = message["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Model promoted: rainfall"},
    }
    assert summary["text"]["type"] == "mrkdwn"
    shown = [field["text"] for field in facts["fields"]]
    assert shown == [
        "*Batch*\nb3-drift.csv",
        "*Model version*\n8",
        "*Previous version*\n7",
        "*Decision record*\n`reports/record-20260509T120000Z.md`",
        "*drift*\n0.41 &gt; 0.30",
    ]
    assert message["driftloop"] == {
        "event": "model_promoted",
        "dataset": "rainfall",
        "summary": "roc_auc 0.86 > 0.84 + 0.01: promoted",
        "batch": "b3-drift.csv",
        "model_version": "8",
        "previous_version": "7",
        "record": "reports/record-20260509T120000Z.md",
        "details": {"drift": "0.41 > 0.30"},
    }


def test_a_record_url_becomes_a_link_and_missing_facts_are_left_out() -> None:
    notification = Notification(
        "run_failed", "rainfall", "MLflow unreachable", record="https://ci.example/runs/1"
    )
    message = build_message(notification)
    [fact] = message["blocks"][2]["fields"]
    assert (
        fact["text"] == "*Decision record*\n<https://ci.example/runs/1|https://ci.example/runs/1>"
    )
    assert message["driftloop"]["batch"] is None


def test_a_bare_notification_has_header_and_summary_only() -> None:
    message = build_message(Notification("retrain_decided", "rainfall", "drift 0.41"))
    assert [block["type"] for block in message["blocks"]] == ["header", "section"]


@pytest.mark.parametrize("event", get_args(Event))
def test_every_event_has_a_title(event: Event) -> None:
    message = build_message(Notification(event, "rainfall", "summary"))
    assert message["blocks"][0]["text"]["text"].endswith(": rainfall")


def test_notification_is_posted_as_json(webhook: WebhookState) -> None:
    delivered, sleeps = notify(webhook.url)
    assert delivered and sleeps == []
    [call] = webhook.received
    assert call["body"] == build_message(PROMOTED)
    assert call["headers"]["Content-Type"] == "application/json"


def test_a_server_error_is_retried(webhook: WebhookState) -> None:
    webhook.status_queue.append(500)
    delivered, sleeps = notify(webhook.url)
    assert delivered and sleeps == [1.0]
    assert len(webhook.received) == 2


def test_a_rate_limit_and_a_timeout_are_retried(webhook: WebhookState) -> None:
    webhook.status_queue += [429, Answer(200, stall=True)]
    delivered, sleeps = notify(webhook.url, timeout=0.05)
    assert delivered and sleeps == [1.0, 2.0]


def test_a_rate_limit_waits_as_long_as_retry_after_says(webhook: WebhookState) -> None:
    webhook.status_queue.append((429, {"Retry-After": "3"}))
    delivered, sleeps = notify(webhook.url)
    assert delivered and sleeps == [3.0]


def test_a_retry_after_too_long_for_a_notification_gives_up_at_once(
    webhook: WebhookState, caplog: pytest.LogCaptureFixture
) -> None:
    webhook.status_queue.append((503, {"Retry-After": "120"}))
    delivered, sleeps = notify(webhook.url)
    assert not delivered and sleeps == [] and len(webhook.received) == 1
    assert "after 1 attempt(s): answered 503" in caplog.text
    assert "(it asks to wait 120 s)" in caplog.text


def test_permanent_failure_returns_false_and_keeps_the_url_out_of_the_logs(
    webhook: WebhookState, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    webhook.status_queue += [500, 503, 502]
    delivered, sleeps = notify(webhook.url)
    assert not delivered and sleeps == [1.0, 2.0]
    assert "not delivered to 127.0.0.1 after 3 attempt(s)" in caplog.text
    assert "HTTP Request: POST" in caplog.text  # httpx's own line, with the path redacted
    assert SECRET not in caplog.text and "/services/" not in caplog.text


def test_a_refusal_is_not_retried(webhook: WebhookState) -> None:
    delivered, sleeps = notify(webhook.url.replace(SECRET, "T0001/B0002/revoked"))
    assert not delivered and sleeps == []
    assert len(webhook.received) == 1


def test_an_unreachable_webhook_returns_false(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    delivered, sleeps = notify(f"http://127.0.0.1:{port}/services/{SECRET}", attempts=2)
    assert not delivered and sleeps == [1.0]
    assert "ConnectError" in caplog.text and SECRET not in caplog.text


@pytest.mark.parametrize("url", ["not a url", "ftp://127.0.0.1/services/x", "http://"])
def test_a_bad_url_returns_false_without_raising(url: str) -> None:
    delivered, sleeps = notify(url)
    assert not delivered and sleeps == []


def test_a_password_in_an_error_text_never_reaches_the_channel() -> None:
    failed = Notification(
        "run_failed", "toy", "MlflowException: cannot reach https://ops:hunter2@mlflow.example"
    )
    assert "hunter2" not in str(build_message(failed))
