"""Data Docs pages that show every batch value as text, never as markup."""

from __future__ import annotations

import html
from typing import Any

from great_expectations.data_context import FileDataContext
from great_expectations.render import RenderedContent
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import pass_context

SECTIONS = ("expectations", "validations", "profiling")
PAGE_VIEW = {"module_name": __name__, "class_name": "TextPageView"}
INDEX_VIEW = {"module_name": __name__, "class_name": "TextIndexPageView"}


def as_text(block: Any) -> Any:
    """`block` with the plain values in it HTML-escaped, its content blocks left as they are.

    GX builds its own markup as content blocks (dicts with a `content_block_type`) and string
    templates, whose params it escapes itself; anything else is a value (a cell of the table
    of unexpected values, a header) that its templates print as raw HTML.
    """
    if block is None or _is_block(block):
        return block
    if isinstance(block, list):
        return [el if _is_block(el) else html.escape(str(el)) for el in block]
    return html.escape(str(block))


class TextPageView(DefaultJinjaPageView):
    """The Data Docs page view, with plain values escaped (see `as_text`)."""

    @pass_context
    def render_content_block(
        self,
        jinja_context: Any,
        content_block: Any,
        index: Any = None,
        content_block_id: Any = None,
        render_to_markdown: bool = False,
    ) -> Any:
        """Render one content block as GX does, after escaping the values in it."""
        shown = content_block if render_to_markdown else as_text(content_block)
        return super().render_content_block(
            jinja_context, shown, index, content_block_id, render_to_markdown
        )


class TextIndexPageView(TextPageView):
    """The Data Docs index page view, with plain values escaped (see `as_text`)."""

    _template = DefaultJinjaIndexPageView._template


def use_text_views(context: FileDataContext) -> bool:
    """Point every Data Docs site of `context` at the text views (not saved).

    Returns:
        Whether the configuration changed (then the caller saves it).
    """
    sites = dict(context.variables.data_docs_sites or {})
    changed = False
    for name, site in sites.items():
        configured = _with_text_views(site)
        changed = changed or configured != site
        sites[name] = configured
    if changed:
        context.variables.data_docs_sites = sites
    return changed


def _with_text_views(site: dict[str, Any]) -> dict[str, Any]:
    sections = dict(site.get("site_section_builders") or {})
    for name in SECTIONS:
        section = sections.get(name, {})
        if isinstance(section, dict):  # a section turned off is a string ("None", "false")
            sections[name] = {**section, "view": dict(PAGE_VIEW)}
    index = {"class_name": "DefaultSiteIndexBuilder", **(site.get("site_index_builder") or {})}
    return {
        **site,
        "site_section_builders": sections,
        "site_index_builder": {**index, "view": dict(INDEX_VIEW)},
    }


def _is_block(value: Any) -> bool:
    return isinstance(value, RenderedContent) or (
        isinstance(value, dict) and "content_block_type" in value
    )
