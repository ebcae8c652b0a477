"""The decision record: what came in, what each gate said and what the registry did."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from runs.index import INDEX_PAGE, RunEntry, entry_path, write_entry
from runs.links import Evidence, Link, is_relative_href, relative_href, relative_links
from runs.outcome import Outcome
from runs.pages import render_markdown_page

# Prefect renders the record as markdown, so the values in it must not start raw HTML or a link.
# A code span (CommonMark: a backtick run closed by the next run of the same length) is shown as
# is; outside one, a backslash escape is kept and `<` or `[` is escaped.
MARKDOWN_TOKEN = re.compile(
    r"(?P<code>(?<!`)(?P<fence>`+)(?!`).+?(?<!`)(?P=fence)(?!`))"
    r"|(?P<escape>\\[!-/:-@\[-`{-~])|(?P<opener>[<\[])",
    re.DOTALL,
)
LINE_BREAK = re.compile(r"\r\n?|\n")
PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# A link destination keeps URL syntax; anything else (spaces, parentheses, <, >) is encoded.
DESTINATION_SAFE = "/:?#&=%@+,;~!$*'[]"


class Clock:
    """Wall time per stage of a run, reported in its record and summary."""

    def __init__(self) -> None:
        """Start with no stages timed."""
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        """Time the block as `stage`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = round(time.perf_counter() - start, 3)


@dataclass(frozen=True)
class CandidateRow:
    """One line of the champion/challenger table."""

    role: str
    version: str
    metrics: dict[str, float]


@dataclass(frozen=True)
class DecisionRecord:
    """Everything one run decided, with links to the evidence.

    `value` is the production model's realized `metric` on the batch, `estimated` its estimate
    when the batch has no labels.
    """

    run_name: str
    dataset: str
    batch: str
    batch_sha256: str
    rows: int
    outcome: Outcome
    validation: str
    unnamed_columns: tuple[str, ...] = ()
    data_docs: Evidence | None = None
    data_version: str = ""  # how DVC versioned the batch (or why it did not)
    drift: tuple[str, ...] = ()
    drift_report: Evidence | None = None
    decision: str | None = None
    candidates: tuple[CandidateRow, ...] = ()
    promotion: str | None = None
    registry: tuple[str, ...] = ()
    dispatch: str | None = None
    model_card: Evidence | None = None
    metric: str = ""
    value: float | None = None
    estimated: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """The record's heading: the run and how it ended."""
        return f"driftloop run {self.run_name}: {self.outcome}"


def render_record(record: DecisionRecord, links: Link) -> str:
    """Render the record as markdown: the record file's text, and the Prefect artifact's.

    Names and values in it show as text: names as code spans, and the prose of each stage with
    `<` and `[` escaped outside its code spans. `links` says where each piece of evidence (Data
    Docs, the Evidently report, the model card) is linked to; one it has no link for shows as
    its location, in a code span.
    """
    lines = [
        f"# {record.title}",
        "",
        f"- dataset: {_code(record.dataset)}",
        f"- batch: {_code(record.batch)} ({record.rows} rows, sha256 `{record.batch_sha256[:12]}`)",
        "",
        "## Validation",
        "",
        _prose(record.validation),
    ]
    if record.unnamed_columns:
        shown = ", ".join(_code(c) for c in record.unnamed_columns)
        lines += ["", f"Columns the spec does not name (not used): {shown}"]
    lines += _data_lines(record, links)
    if record.drift or record.drift_report:
        lines += ["", "## Monitoring", ""] + [f"- {_prose(line)}" for line in record.drift]
        if record.drift_report:
            lines += ["", _evidence("Evidently report", record.drift_report, links)]
    if record.decision:
        lines += ["", "## Retrain decision", "", _prose(record.decision)]
    if record.candidates:
        metrics = sorted({m for row in record.candidates for m in row.metrics})
        lines += [
            "",
            "## Champion vs challenger (same holdout)",
            "",
            "| role | version | " + " | ".join(metrics) + " |",
            "|---|---|" + "---|" * len(metrics),
        ]
        for row in record.candidates:
            cells = [f"{row.metrics[m]:.4f}" if m in row.metrics else "" for m in metrics]
            lines.append(f"| {row.role} | {row.version} | " + " | ".join(cells) + " |")
    if record.promotion:
        lines += ["", "## Promotion", "", _prose(record.promotion)]
    if record.registry:
        lines += [""] + [f"- {_prose(line)}" for line in record.registry]
    if record.model_card:
        lines += ["", _evidence("Model card", record.model_card, links)]
    if record.dispatch:
        lines += ["", "## CD dispatch", "", _prose(record.dispatch)]
    if record.seconds:
        stages = ", ".join(f"{stage} {secs:.2f} s" for stage, secs in record.seconds.items())
        lines += ["", f"Stage wall times: {stages}."]
    return "\n".join(lines) + "\n"


def _data_lines(record: DecisionRecord, links: Link) -> list[str]:
    """The validation's Data Docs and how the batch's data is versioned."""
    lines = ["", _evidence("Data Docs", record.data_docs, links)] if record.data_docs else []
    if record.data_version:
        lines += ["", f"Data version: {_prose(record.data_version)}"]
    return lines


def write_record(record: DecisionRecord, path: Path, *, card: str | None = None) -> Path:
    """Write the record's markdown to `path`, the same as HTML beside it, and its index entry.

    Links in both lead to the evidence relative to `path`'s folder, so the folder can be copied
    or served anywhere. With `card` (the model card's markdown) and a `model_card` location in
    the record, the card is written there as HTML too. The index entry comes last: a run that
    stops before it leaves a record the index lists by its name alone.

    Returns:
        `path`.
    """
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    markdown = render_record(record, relative_links(folder))
    path.write_text(markdown, encoding="utf-8")
    page = path.with_suffix(".html")
    around = {"every run": INDEX_PAGE, "markdown": quote(path.name)}
    shown_page = render_markdown_page(markdown, title=record.title, links=around)
    page.write_text(shown_page, encoding="utf-8")
    shown = record.model_card.path if record.model_card else None
    if card is not None and shown is not None:
        around = {
            "decision record": relative_href(page, shown.parent),
            "every run": relative_href(folder / INDEX_PAGE, shown.parent),
        }
        title = f"driftloop model card, run {record.run_name}"
        shown.parent.mkdir(parents=True, exist_ok=True)
        card_page = render_markdown_page(card, title=title, links=around)
        shown.write_text(card_page, encoding="utf-8")
    write_entry(_entry(record, page), entry_path(path))
    return path


def _entry(record: DecisionRecord, page: Path) -> RunEntry:
    link = relative_links(page.parent)
    evidence = {
        "drift_report": record.drift_report,
        "data_docs": record.data_docs,
        "model_card": record.model_card,
    }
    hrefs = {key: link(found) for key, found in evidence.items() if found is not None}
    measured = record.value if record.value is not None else record.estimated
    return RunEntry(
        run=record.run_name,
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        dataset=record.dataset,
        batch=record.batch,
        outcome=str(record.outcome),
        metric=record.metric,
        value=measured,
        estimated=record.value is None and record.estimated is not None,
        links={"record": quote(page.name)}
        | {key: href for key, href in hrefs.items() if href and is_relative_href(href)},
    )


def _evidence(label: str, evidence: Evidence, links: Link) -> str:
    """The label and a link to the evidence; its location as a code span where there is none."""
    href = links(evidence)
    if href is None:
        return f"{label}: {_code(evidence.location)}"
    name = PUNCTUATION.sub(r"\\\1", _name(evidence))
    return f"{label}: [{name}]({quote(href, safe=DESTINATION_SAFE)})"


def _name(evidence: Evidence) -> str:
    """The file name the evidence is shown by (decoded, when its location is a URL)."""
    local = evidence.path
    name = local.name if local else unquote(urlsplit(evidence.location).path.rsplit("/", 1)[-1])
    return LINE_BREAK.sub(" ", name or evidence.location)


def _code(value: str) -> str:
    """`value` as one markdown code span, whatever backticks or line breaks it holds."""
    flat = LINE_BREAK.sub(" ", value)
    fence = "`" * (max(map(len, re.findall("`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def _prose(text: str) -> str:
    """Markdown `text` that cannot start raw HTML or a link (see `MARKDOWN_TOKEN`)."""
    return MARKDOWN_TOKEN.sub(_neutralized, text)


def _neutralized(token: re.Match[str]) -> str:
    if token["code"]:
        # Line breaks in a code span show as spaces; kept, one could start an HTML block.
        return LINE_BREAK.sub(" ", token["code"])
    return token["escape"] or "\\" + token["opener"]
