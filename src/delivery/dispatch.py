"""Build and send GitHub `repository_dispatch` events for promoted models."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from delivery.errors import DispatchError

logger = logging.getLogger(__name__)

GITHUB_API_VERSION = "2022-11-28"
# GitHub accepts at most 10 top-level keys in client_payload.
MAX_PAYLOAD_KEYS = 10
ACCEPTED = 204  # GitHub answers a dispatch with 204 No Content
TRANSIENT_STATUS = {429, 500, 502, 503, 504}
FIX_FOR_STATUS = {
    401: "the token is invalid or expired: set DRIFTLOOP_GITHUB__TOKEN",
    403: "the token lacks permission (needs 'contents: write' on the repository) or is rate "
    "limited: check DRIFTLOOP_GITHUB__TOKEN",
    404: "repository not found or not visible to the token: check DRIFTLOOP_GITHUB__REPO",
    422: "GitHub rejected the payload: check DRIFTLOOP_GITHUB__EVENT_TYPE",
}


@dataclass(frozen=True)
class DispatchRequest:
    """The exact HTTP request a dispatch sends (without the token)."""

    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass(frozen=True)
class DispatchResult:
    """What happened to a dispatch."""

    sent: bool
    status: int | None
    request: DispatchRequest
    note: str


def build_dispatch_request(
    *,
    api_url: str,
    repo: str,
    event_type: str,
    model_name: str,
    model_version: str,
    run_id: str,
    metrics: dict[str, float],
    alias: str,
) -> DispatchRequest:
    """Describe the `repository_dispatch` call for a promoted model version.

    The payload is what `.github/workflows/cd.yml` reads: `model_name`, `model_version`,
    `run_id`, `alias`, `metrics`.
    """
    payload = {
        "model_name": model_name,
        "model_version": str(model_version),
        "run_id": run_id,
        "alias": alias,
        "metrics": {k: round(v, 6) for k, v in sorted(metrics.items())},
    }
    assert len(payload) <= MAX_PAYLOAD_KEYS  # GitHub rejects larger payloads with a 422
    return DispatchRequest(
        method="POST",
        url=f"{api_url.rstrip('/')}/repos/{repo}/dispatches",
        headers={
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": GITHUB_API_VERSION,
            "User-Agent": "driftloop",
        },
        body={"event_type": event_type, "client_payload": payload},
    )


def send_dispatch(client: httpx.Client, request: DispatchRequest, token: str) -> DispatchResult:
    """Send the dispatch. GitHub answers 204 No Content on success.

    Raises:
        DispatchError: GitHub refused it (status and the setting to fix in the message);
            transient answers (429, 5xx) are raised too, for the caller's retry policy.
        httpx.TransportError: the API could not be reached (transient).
    """
    response = client.request(
        request.method,
        request.url,
        json=request.body,
        headers={**request.headers, "Authorization": f"Bearer {token}"},
    )
    if response.status_code == ACCEPTED:
        logger.info("dispatched %s to %s", request.body["event_type"], request.url)
        return DispatchResult(sent=True, status=ACCEPTED, request=request, note="dispatched")
    fix = FIX_FOR_STATUS.get(response.status_code, "GitHub had a problem; retry later")
    message = _github_message(response)
    raise DispatchError(
        f"GitHub answered {response.status_code} to {request.url}: {message}; {fix}",
        status=response.status_code,
    )


def record_dry_run(request: DispatchRequest, path: Path) -> DispatchResult:
    """Write the request that would have been sent (no token configured) and say so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(request), indent=2), encoding="utf-8")
    note = (
        f"no GitHub token (DRIFTLOOP_GITHUB__TOKEN): CD hand-off not sent; the request it "
        f"would send is in {path}"
    )
    logger.warning(note)
    return DispatchResult(sent=False, status=None, request=request, note=note)


def is_transient_dispatch_error(exc: BaseException) -> bool:
    """Whether a dispatch failure is worth retrying (network trouble, 429, 5xx)."""
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, DispatchError) and exc.status in TRANSIENT_STATUS


def _github_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])
    return str(body)[:200]
