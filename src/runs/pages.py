"""HTML pages from templates: autoescaped values, and markdown rendered by a CommonMark parser."""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup


@cache
def _environment() -> jinja2.Environment:
    # Every value is escaped unless a template marks it safe; only rendered markdown is.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("runs", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _markdown() -> MarkdownIt:
    # Raw HTML in the source is shown as text, and markdown-it drops links to javascript:,
    # vbscript:, file: and non-image data: URLs, whatever a value slipped into the markdown.
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown_html(markdown: str) -> Markup:
    """`markdown` as HTML (CommonMark with tables; raw HTML in it is escaped, not passed)."""
    return Markup(_markdown().render(markdown))  # the parser escaped every value in it


def render_page(template: str, **context: Any) -> str:
    """Render one of the package's templates (`templates/<template>`) with `context`."""
    return _environment().get_template(template).render(**context)


def render_markdown_page(markdown: str, *, title: str, links: dict[str, str] | None = None) -> str:
    """A standalone HTML page of `markdown`, titled `title`, with `links` (label: href) above."""
    return render_page(
        "markdown.html", title=title, body=markdown_html(markdown), links=links or {}
    )


def write_atomically(path: Path, text: str) -> Path:
    """Write `text` to `path` through a temporary file, so a reader never sees half a file.

    Two runs that end together each replace the page whole; the later one wins.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as handle:
        handle.write(text)
    written = Path(handle.name)
    try:
        written.chmod(0o644)  # a temporary file is private; the page is for readers
        written.replace(path)
    except OSError:
        written.unlink(missing_ok=True)
        raise
    return path
