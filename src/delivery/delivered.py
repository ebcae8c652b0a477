"""Telling CD of a release once: a release that may have reached CD is looked up before resending.

A run can die after GitHub accepted a dispatch and before the release was closed. The next
run finds the release open and would ask CD again. So the version is marked before each
dispatch (`registry.release.mark_sending`), and an open release that carries the mark is first
looked for among the CD workflow's runs: `.github/workflows/cd.yml` names each run after the
release id it was sent (`run-name`). Only when GitHub shows no such run is it sent again; CD
itself ships a version's image once, so even a resend GitHub could not rule out changes
nothing there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from mlflow import MlflowClient

from config.settings import GitHubSettings
from delivery import dispatch as sending
from delivery.request import GITHUB_HEADERS, DispatchRequest, DispatchResult
from registry.release import Release, mark_sending, sending_since

logger = logging.getLogger(__name__)

OK = 200
# Runs are listed from a little before the mark, in case the clocks disagree.
CLOCK_SLACK = timedelta(minutes=5)
MOST_PAGES = 5  # 500 dispatched runs since the mark: more than any one release's recovery needs


@dataclass(frozen=True)
class CdRun:
    """A CD workflow run GitHub lists for a release."""

    id: int
    url: str
    title: str


def tell_cd_once(
    client: MlflowClient,
    release: Release,
    request: DispatchRequest,
    github: GitHubSettings,
    *,
    dry_run_path: Path,
    transport: httpx.BaseTransport | None = None,
) -> DispatchResult:
    """Ask CD to ship the release unless GitHub shows CD already has it; the caller closes it.

    Raises:
        DispatchError: GitHub refused the dispatch, or kept failing or unreachable (see
            `dispatch`).
    """
    since = sending_since(client, release)
    if since is not None and github.token is not None:
        found = find_cd_run(github, release.release_id, since, transport=transport)
        if found is not None:
            note = f"CD already had this release (workflow run {found.id}, {found.url}); not sent"
            logger.info("release %s: %s", release.release_id, note)
            return DispatchResult(sent=True, status=None, request=request, note=note, attempts=0)
        logger.warning(
            "release %s may have reached CD before the run that sent it stopped (%s), but GitHub "
            "lists no CD run for it: sending it again (CD ships each version once)",
            release.release_id,
            since,
        )
    mark_sending(client, release)
    return sending.dispatch(request, github, dry_run_path=dry_run_path, transport=transport)


def find_cd_run(
    github: GitHubSettings,
    release_id: str,
    since: str,
    *,
    transport: httpx.BaseTransport | None = None,
) -> CdRun | None:
    """The run of the CD workflow GitHub lists for `release_id`, created since `since` (ISO time).

    None when there is none, or when GitHub cannot say (unreachable, or a token without
    `actions: read`): the caller then sends again, which CD's own check makes harmless.
    """
    assert github.token is not None
    start = datetime.fromisoformat(since) - CLOCK_SLACK
    base = github.api_url.rstrip("/")
    url: str | None = f"{base}/repos/{github.repo}/actions/workflows/{github.workflow}/runs"
    query: dict[str, str | int] | None = {
        "event": "repository_dispatch",
        "created": f">={start.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        "per_page": 100,
    }
    headers = {**GITHUB_HEADERS, "Authorization": f"Bearer {github.token.get_secret_value()}"}
    with httpx.Client(timeout=github.timeout_seconds, transport=transport) as http:
        for _ in range(MOST_PAGES):
            if url is None:
                break
            try:
                response = http.get(url, params=query, headers=headers)
            except httpx.TransportError as exc:
                logger.warning("could not list CD runs (%s: %s)", type(exc).__name__, exc)
                return None
            if response.status_code != OK:
                logger.warning(
                    "could not list CD runs: GitHub answered %d (the token needs 'actions: read')",
                    response.status_code,
                )
                return None
            for run in response.json().get("workflow_runs", []):
                if release_id in str(run.get("display_title", "")):
                    return CdRun(int(run["id"]), str(run.get("html_url", "")), run["display_title"])
            url, query = response.links.get("next", {}).get("url"), None
    return None
