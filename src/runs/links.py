"""Where the links of driftloop's pages lead: next to the page, or to the tracking server."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from urllib.parse import quote, urlsplit
from urllib.request import url2pathname

WEB_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Evidence:
    """A page a record points to, and the tracking run that keeps a copy of it.

    `location` is a path (relative to the working directory, or absolute) or a URL; it is also
    what a page shows when it cannot link to it.
    """

    location: str
    run_id: str = ""

    @property
    def path(self) -> Path | None:
        """The local file `location` names (a path or a `file:` URL), or None for a URL."""
        parts = urlsplit(self.location)
        if parts.scheme == "file":
            return Path(url2pathname(parts.path))
        return Path(self.location) if not parts.scheme else None


# What a page links to for a piece of evidence; None: show its location as text.
Link = Callable[[Evidence], str | None]


def relative_links(folder: Path) -> Link:
    """Links for a page written into `folder`: local files relative to it, web URLs as they are.

    Relative links keep working wherever the folder is copied or served from, with the pages
    they point to beside it.
    """

    def link(evidence: Evidence) -> str | None:
        path = evidence.path
        if path is None:
            return evidence.location if is_web(evidence.location) else None
        return relative_href(path, folder)

    return link


def tracking_links(tracking_uri: str) -> Link:
    """Links that work away from this machine, as in the Prefect UI: web pages only.

    A local file is linked through the page of the MLflow run that keeps its copy, when tracking
    is an http(s) server; otherwise there is nothing to link to.
    """
    server = tracking_server(tracking_uri)

    def link(evidence: Evidence) -> str | None:
        if is_web(evidence.location):
            return evidence.location
        if server and evidence.run_id:
            # MLflow's UI sends /runs/<id> on to the run's page in its experiment.
            return f"{server}/#/runs/{quote(evidence.run_id, safe='')}"
        return None

    return link


def tracking_server(tracking_uri: str) -> str | None:
    """The web address of an http(s) tracking server, without any credentials in the URI."""
    parts = urlsplit(tracking_uri)
    if parts.scheme not in WEB_SCHEMES or not parts.netloc:
        return None
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path.rstrip('/')}"


def relative_href(target: Path, folder: Path) -> str:
    """`target` as a percent-encoded URL path relative to `folder`.

    Both are made absolute without following links (`os.path.relpath`), as a browser resolves
    the URL it opened.
    """
    relative = os.path.relpath(target, folder)
    return quote(PurePath(relative).as_posix(), safe="/")


def is_web(location: str) -> bool:
    """Whether `location` is an http(s) URL."""
    parts = urlsplit(location)
    return parts.scheme in WEB_SCHEMES and bool(parts.netloc)


def is_relative_href(href: str) -> bool:
    """Whether `href` is a relative URL path (no scheme, host or root): safe to link as is."""
    parts = urlsplit(href)
    return not (parts.scheme or parts.netloc or href.startswith(("/", "\\")))
