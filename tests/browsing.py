"""A headless Chromium for page tests: find it (or skip), and read a page's DOM after load."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

BROWSERS = (
    "chromium",
    "chromium-headless-shell",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)
BROWSER_SECONDS = 180  # a 4 MB Evidently page on a busy 2-core machine


def find_browser() -> str:
    """The browser to drive: CHROME_BIN, else the first of BROWSERS on PATH (skip if none)."""
    found = os.environ.get("CHROME_BIN") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if found is None:
        pytest.skip("no chromium binary on PATH (apt-get install chromium, or set CHROME_BIN)")
    return found


def rendered(browser: str, page: Path, tmp_path: Path) -> str:
    """The page's DOM after its scripts (and any it let in) have run."""
    # A profile per call: a browser started on a profile still held by the last one hands the
    # page over to that one and prints nothing.
    profile = tempfile.mkdtemp(prefix="browser-profile-", dir=tmp_path)
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=BROWSER_SECONDS, check=True
    )
    return done.stdout


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"a": "href", "img": "src"}.get(tag)
        self.found += [v for k, v in attrs if k == wanted and v is not None]


def links_in(dom: str) -> list[str]:
    """Every `a[href]` and `img[src]` in `dom`, as written."""
    parser = _Links()
    parser.feed(dom)
    return parser.found
