"""Tell people what the loop did: pipeline events posted to a Slack-compatible webhook."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import Any, Literal

import httpx

from config.settings import redact_credentials
from delivery.answers import retry_after_wait
from delivery.retries import Backoff, Failure, keep_trying

logger = logging.getLogger(__name__)

# Not apprise (installed with Prefect): its Slack plugin sends its own layout (a title and one
# text block, or a template file), dropping the fact fields and the `driftloop` object; its
# retries (off by default) wait a fixed time and never read `Retry-After`; importing it takes
# 70-140 ms, and its first URL 180-350 ms more (~600 plugin modules). It would add services
# (Teams, e-mail), not replace code here.

Event = Literal[
    "batch_rejected",
    "unexpected_columns",
    "retrain_decided",
    "retrain_held_back",
    "drift_detected",
    "model_promoted",
    "approval_requested",
    "candidate_rejected",
    "model_not_servable",
    "model_rolled_back",
    "run_failed",
]
TITLES: dict[Event, str] = {
    "batch_rejected": "Batch rejected",
    "unexpected_columns": "Unexpected columns",
    "retrain_decided": "Retraining",
    "retrain_held_back": "Retrain held back",
    "drift_detected": "Drift detected",
    "model_promoted": "Model promoted",
    "approval_requested": "Approval requested",
    "candidate_rejected": "Candidate rejected",
    "model_not_servable": "Model not servable",
    "model_rolled_back": "Model rolled back",
    "run_failed": "Run failed",
}
# Slack's limits: 150 characters in a header, 3000 in a section, 10 fields, 2000 per field.
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
MAX_FIELDS = 10
FIELD_LIMIT = 2000
# A notification never holds a run for long: 3 requests, 1 + 2 s of back-off, or up to 30 s in
# all when the webhook names its wait (Slack's 429 carries `Retry-After`).
WEBHOOK_BACKOFF = Backoff(attempts=3, base_delay=1.0, max_delay=30.0, max_total=30.0)


@dataclass(frozen=True)
class Notification:
    """One pipeline event worth telling people about.

    Attributes:
        event: What happened.
        dataset: The dataset (and registered model) it happened to.
        summary: One line with the numbers behind it ("drift 0.41 > 0.30: retraining").
        batch: The batch file the run read, when there was one.
        model_version: The version the event is about (promoted, rolled back to).
        previous_version: The version it replaced, for promotions and rollbacks.
        record: Path or URL of the run's decision record.
        details: Further facts to show, in order.
    """

    event: Event
    dataset: str
    summary: str
    _: KW_ONLY
    batch: str | None = None
    model_version: str | None = None
    previous_version: str | None = None
    record: str | None = None
    details: dict[str, str] = field(default_factory=dict)


def build_message(notification: Notification) -> dict[str, Any]:
    """The webhook body: Slack's `text` and `blocks`, plus the event's fields under `driftloop`.

    Slack shows `blocks` (falling back to `text`) and ignores the `driftloop` object, which is
    there for any other receiver that routes on the event.
    """
    # A URL's password (a tracking URI quoted in an error) never leaves for the channel.
    n = replace(
        notification,
        summary=redact_credentials(notification.summary),
        details={k: redact_credentials(v) for k, v in notification.details.items()},
    )
    title = f"{TITLES[n.event]}: {n.dataset}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:HEADER_LIMIT]}},
        {"type": "section", "text": _markdown(_escape(n.summary)[:SECTION_LIMIT])},
    ]
    facts = _facts(n)
    if facts:
        blocks.append({"type": "section", "fields": facts[:MAX_FIELDS]})
    return {
        "text": _escape(f"[driftloop] {title}: {n.summary}")[:SECTION_LIMIT],
        "blocks": blocks,
        "driftloop": {
            "event": n.event,
            "dataset": n.dataset,
            "summary": n.summary,
            "batch": n.batch,
            "model_version": n.model_version,
            "previous_version": n.previous_version,
            "record": n.record,
            "details": dict(n.details),
        },
    }


def send_notification(
    client: httpx.Client,
    url: str,
    notification: Notification,
    *,
    attempts: int = WEBHOOK_BACKOFF.attempts,
    base_delay: float = WEBHOOK_BACKOFF.base_delay,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Post the notification to the webhook; a failure is logged, never raised.

    Server errors (5xx, 429) and transport errors are retried (`delivery.retries`): after the
    `Retry-After` the webhook names, else a doubling wait; a wait longer than 30 s, or any
    other refusal, is final. The URL is a secret (Slack's embed a token), so logs name only
    its host.

    Args:
        client: The HTTP client (its timeout bounds each attempt).
        url: The webhook URL.
        notification: What to say.
        attempts: Most requests to send, the first included.
        base_delay: Seconds before the first retry.
        sleep: Sleeps that many seconds (injected in tests).

    Returns:
        Whether the webhook accepted the notification.

    Raises:
        ValueError: `attempts` is less than 1.
    """
    host, body = _host(url), build_message(notification)
    backoff = replace(WEBHOOK_BACKOFF, attempts=attempts, base_delay=base_delay)

    def waiting(failure: Failure, attempt: int, delay: float) -> None:
        logger.warning(
            "webhook at %s %s; attempt %d of %d in %.1f s%s",
            host,
            failure.label,
            attempt,
            attempts,
            delay,
            failure.why,
        )

    with _redacted_httpx_logs(url):
        tried = keep_trying(lambda: _post(client, url, body), backoff, sleep=sleep, on_wait=waiting)
    if tried.failure is None:
        logger.info("notified %s about %s", host, notification.event)
        return True
    logger.warning(
        "notification %s not delivered to %s after %d attempt(s): %s%s",
        notification.event,
        host,
        tried.attempts,
        tried.failure.label,
        "" if tried.next_wait is None else f" (it asks to wait {tried.next_wait:.0f} s)",
    )
    return False


def notify(url: str | None, notification: Notification, *, timeout: float) -> bool:
    """Post the notification when a webhook is configured; say whether it was delivered."""
    if url is None:
        return False
    with httpx.Client(timeout=timeout) as client:
        return send_notification(client, url, notification)


def _post(client: httpx.Client, url: str, body: dict[str, Any]) -> Failure | None:
    """Send once: None when accepted, else what went wrong and whether to retry."""
    try:
        response = client.post(url, json=body)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        return Failure(f"has an invalid URL ({type(exc).__name__})", False)
    except httpx.TransportError as exc:
        return Failure(_scrub(f"could not be reached ({type(exc).__name__}: {exc})", url), True)
    if response.is_success:
        return None
    status = response.status_code
    label = _scrub(f"answered {status} ({response.text[:100]})", url)
    if status >= 500 or status == 429:  # noqa: PLR2004 - Too Many Requests
        wait, why = retry_after_wait(response, time.time()) or (None, "")
        return Failure(label, True, status, wait=wait, why=why)
    return Failure(label, False, status)


def _facts(n: Notification) -> list[dict[str, str]]:
    known = {
        "Batch": _escape(n.batch or ""),
        "Model version": _escape(n.model_version or ""),
        "Previous version": _escape(n.previous_version or ""),
        "Decision record": _link(n.record) if n.record else "",
    }
    extra = {_escape(label): _escape(value) for label, value in n.details.items()}
    facts = {label: value for label, value in known.items() if value} | extra
    return [_markdown(f"*{label}*\n{value}") for label, value in facts.items()]


def _markdown(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text[:FIELD_LIMIT]}


def _link(record: str) -> str:
    if record.startswith(("http://", "https://")):
        return f"<{record}|{_escape(record)}>"
    return f"`{_escape(record)}`"


def _escape(text: str) -> str:
    # Slack reads &, < and > as control characters in mrkdwn.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host or "(no host)"
    except httpx.InvalidURL:
        return "(invalid URL)"


def _scrub(text: str, url: str) -> str:
    """Replace the URL's secret parts (path, query, credentials) in a message."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return text.replace(url, "(webhook URL)")
    safe = f"{parsed.scheme}://{parsed.host}/…"
    for secret, shown in [
        (url, safe),
        (str(parsed), safe),
        (parsed.raw_path.decode("ascii"), "/…"),
        (parsed.userinfo.decode(), "…"),
    ]:
        if len(secret) > 1:
            text = text.replace(secret, shown)
    return text


class _RedactUrl(logging.Filter):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = _scrub(record.getMessage(), self.url), ()
        return True


@contextmanager
def _redacted_httpx_logs(url: str) -> Iterator[None]:
    # httpx logs every request's full URL at INFO; a webhook URL is a secret.
    redact = _RedactUrl(url)
    httpx_logger = logging.getLogger("httpx")
    httpx_logger.addFilter(redact)
    try:
        yield
    finally:
        httpx_logger.removeFilter(redact)
