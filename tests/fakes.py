"""A local HTTP server that answers GitHub's `repository_dispatch` endpoint like GitHub does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MESSAGES = {
    401: "Bad credentials",
    404: "Not Found",
    422: "Invalid request.",
    503: "Service unavailable",
}


@dataclass
class GitHubState:
    """What the fake has received, and statuses to answer next (before judging a request)."""

    token: str
    repo: str
    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    status_queue: list[int] = field(default_factory=list)


def _handler(state: GitHubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            status = state.status_queue.pop(0) if state.status_queue else self._judge(body)
            self.send_response(status)
            if status == 204:
                self.end_headers()
                return
            payload = json.dumps({"message": MESSAGES.get(status, "error")}).encode()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _judge(self, body: dict[str, Any]) -> int:
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                return 401
            if self.path != f"/repos/{state.repo}/dispatches":
                return 404
            if not body.get("event_type") or len(body.get("client_payload", {})) > 10:
                return 422
            return 204

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def fake_github(token: str, repo: str = "acme/model") -> Iterator[GitHubState]:
    """Serve the fake on 127.0.0.1 (a free port) for the duration of the block."""
    state = GitHubState(token=token, repo=repo)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
