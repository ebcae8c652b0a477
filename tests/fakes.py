"""Local HTTP servers on 127.0.0.1: GitHub's `repository_dispatch` endpoint and a chat webhook.

Both answer from a queue first (`status_queue`: a status, `(status, headers)` or an `Answer`),
then judge the request like the real service would. Each dispatch GitHub accepts starts a CD
workflow run, named as `.github/workflows/cd.yml`'s `run-name` names it; the fake lists them at
`GET /repos/{repo}/actions/workflows/cd.yml/runs` as GitHub does (newest first, filtered by
`event` and `created`, in pages linked by a `Link: rel="next"` header).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import yaml

CD_WORKFLOW = Path(__file__).parents[1] / ".github" / "workflows" / "cd.yml"
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}")

MESSAGES = {
    401: "Bad credentials",
    403: "Resource not accessible by personal access token",
    404: "Not Found",
    422: "Invalid request.",
    429: "API rate limit exceeded",
    500: "Internal Server Error",
    503: "Service unavailable",
}


@dataclass(frozen=True)
class Answer:
    """One queued answer; `stall` holds it until the fake closes, so the client times out."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    stall: bool = False


Queued = int | tuple[int, dict[str, str]] | Answer


def _answer(entry: Queued) -> Answer:
    if isinstance(entry, Answer):
        return entry
    if isinstance(entry, tuple):
        return Answer(entry[0], dict(entry[1]))
    return Answer(entry)


@dataclass
class GitHubState:
    """What the fake has received, and answers to give next (before judging a request)."""

    token: str
    repo: str
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    status_queue: list[Queued] = field(default_factory=list)
    closing: threading.Event = field(default_factory=threading.Event)
    runs: list[dict[str, Any]] = field(default_factory=list)
    # Answers to `GET .../actions/workflows/cd.yml/runs` before listing (e.g. 403 for a token
    # without `actions: read`).
    list_queue: list[int] = field(default_factory=list)
    listings: int = 0  # requests for the runs listing received

    def add_run(self, title: str, created: datetime | None = None) -> dict[str, Any]:
        """A CD workflow run, as a dispatch GitHub accepted starts one."""
        number = len(self.runs) + 1
        run = {
            "id": number,
            "event": "repository_dispatch",
            "display_title": title,
            "created_at": (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "html_url": f"{self.url}/{self.repo}/actions/runs/{number}",
        }
        self.runs.append(run)
        return run

    def list_runs(self, query: dict[str, list[str]]) -> tuple[list[dict[str, Any]], bool]:
        """One page of runs, newest first, filtered as GitHub filters `event` and `created`."""
        runs = [r for r in reversed(self.runs) if r["event"] in query.get("event", [r["event"]])]
        since = query.get("created", [">=1970-01-01T00:00:00Z"])[0].removeprefix(">=")
        runs = [r for r in runs if r["created_at"] >= since]
        size, page = int(query.get("per_page", ["30"])[0]), int(query.get("page", ["1"])[0])
        return runs[(page - 1) * size : page * size], page * size < len(runs)


def run_name(payload: dict[str, Any]) -> str:
    """The name GitHub gives the CD run a dispatch with `payload` starts (cd.yml `run-name`)."""
    template = " ".join(yaml.safe_load(CD_WORKFLOW.read_text(encoding="utf-8"))["run-name"].split())

    def value(match: re.Match[str]) -> str:
        for alternative in (a.strip() for a in match.group(1).split("||")):
            if alternative.startswith("github.event.client_payload."):
                found = payload.get(alternative.removeprefix("github.event.client_payload."))
                if found:
                    return str(found)
            elif alternative.startswith("'"):
                return alternative.strip("'")
        return ""

    return EXPRESSION.sub(value, template)


@dataclass
class WebhookState:
    """A chat webhook (Slack-style: 200 `ok`): what it received and answers to give next."""

    path: str
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    status_queue: list[Queued] = field(default_factory=list)
    closing: threading.Event = field(default_factory=threading.Event)


def _handler(
    state: GitHubState | WebhookState, judge: Callable[[BaseHTTPRequestHandler, Any], Answer]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            body = json.loads(raw)
            state.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            queued = state.status_queue.pop(0) if state.status_queue else None
            answer = _answer(queued) if queued is not None else judge(self, body)
            if isinstance(state, GitHubState) and answer.status == 204:
                state.add_run(run_name(body.get("client_payload", {})))
            if answer.stall:
                state.closing.wait(timeout=30)
            with suppress(OSError):  # a client that timed out has closed the connection
                self._send(answer)

        def do_GET(self) -> None:
            if not isinstance(state, GitHubState):
                self._send(Answer(404))
                return
            authorized = self.headers.get("Authorization") == f"Bearer {state.token}"
            asked = urlsplit(self.path)
            state.listings += 1
            listing = asked.path == f"/repos/{state.repo}/actions/workflows/cd.yml/runs"
            status = state.list_queue.pop(0) if state.list_queue else None
            if status is None and not authorized:
                status = 401
            if status is not None or not listing:
                self._send(Answer(status or 404))
                return
            query = parse_qs(asked.query)
            runs, more = state.list_runs(query)
            payload = json.dumps({"total_count": len(state.runs), "workflow_runs": runs}).encode()
            self.send_response(200)
            if more:
                page = int(query.get("page", ["1"])[0]) + 1
                following = urlencode({**{k: v[0] for k, v in query.items()}, "page": page})
                self.send_header("Link", f'<{state.url}{asked.path}?{following}>; rel="next"')
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _send(self, answer: Answer) -> None:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if answer.status == 204:
                self.end_headers()
                return
            payload = self._payload(answer)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _payload(self, answer: Answer) -> bytes:
            message = answer.message or MESSAGES.get(answer.status, "error")
            if isinstance(state, WebhookState):
                self.send_header("Content-Type", "text/plain")
                return (message if answer.status != 200 else "ok").encode()
            self.send_header("Content-Type", "application/json")
            return json.dumps({"message": message}).encode()

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def _judge_dispatch(state: GitHubState) -> Callable[[BaseHTTPRequestHandler, Any], Answer]:
    def judge(request: BaseHTTPRequestHandler, body: dict[str, Any]) -> Answer:
        if request.headers.get("Authorization") != f"Bearer {state.token}":
            return Answer(401)
        if request.path != f"/repos/{state.repo}/dispatches":
            return Answer(404)
        if not body.get("event_type") or len(body.get("client_payload", {})) > 10:
            return Answer(422)
        return Answer(204)

    return judge


def _judge_webhook(state: WebhookState) -> Callable[[BaseHTTPRequestHandler, Any], Answer]:
    def judge(request: BaseHTTPRequestHandler, body: Any) -> Answer:
        if request.path != state.path:
            return Answer(404, message="no_service")
        if not isinstance(body, dict) or not body.get("text"):
            return Answer(400, message="invalid_payload")
        return Answer(200)

    return judge


@contextmanager
def _serving(
    state: GitHubState | WebhookState, judge: Callable[[BaseHTTPRequestHandler, Any], Answer]
) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state, judge))
    # A short poll interval lets `shutdown` return at once instead of after half a second.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        state.closing.set()
        server.shutdown()
        server.server_close()


@contextmanager
def fake_github(token: str, repo: str = "acme/model") -> Iterator[GitHubState]:
    """Serve the GitHub fake on 127.0.0.1 (a free port) for the duration of the block."""
    state = GitHubState(token=token, repo=repo)
    with _serving(state, _judge_dispatch(state)) as base:
        state.url = base
        yield state


@contextmanager
def fake_webhook(path: str = "/services/T000/B000/s3cr3tw3bh00k") -> Iterator[WebhookState]:
    """Serve a webhook receiver on 127.0.0.1; `state.url` is the full (secret) webhook URL."""
    state = WebhookState(path=path)
    with _serving(state, _judge_webhook(state)) as base:
        state.url = base + path
        yield state
