"""The `repository_dispatch` request that asks CD to ship a model version, and its result."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

GITHUB_API_VERSION = "2022-11-28"
# What every request to GitHub's REST API carries (the token is added when sending).
GITHUB_HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": GITHUB_API_VERSION,
    "User-Agent": "driftloop",
}
# GitHub accepts at most 10 top-level keys in client_payload.
MAX_PAYLOAD_KEYS = 10


@dataclass(frozen=True)
class DispatchRequest:
    """The exact HTTP request a dispatch sends (without the token)."""

    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass(frozen=True)
class DispatchResult:
    """What happened to a dispatch, and how many requests it took (0 for a dry run)."""

    sent: bool
    status: int | None
    request: DispatchRequest
    note: str
    attempts: int = 1


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
    release: str,
) -> DispatchRequest:
    """Describe the `repository_dispatch` call for a promoted model version.

    The payload is what `.github/workflows/cd.yml` reads: `model_name`, `model_version`,
    `run_id`, `alias`, `metrics`, and `release`, the release's id, which CD puts in the name of
    its workflow run so that a run can be found again for a release (`delivery.delivered`).
    """
    payload = {
        "model_name": model_name,
        "model_version": str(model_version),
        "run_id": run_id,
        "alias": alias,
        "release": release,
        "metrics": {k: round(v, 6) for k, v in sorted(metrics.items())},
    }
    assert len(payload) <= MAX_PAYLOAD_KEYS  # GitHub rejects larger payloads with a 422
    return DispatchRequest(
        method="POST",
        url=f"{api_url.rstrip('/')}/repos/{repo}/dispatches",
        headers=dict(GITHUB_HEADERS),
        body={"event_type": event_type, "client_payload": payload},
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
    return DispatchResult(sent=False, status=None, request=request, note=note, attempts=0)
