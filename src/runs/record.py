"""The decision record: what came in, what each gate said and what the registry did."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from runs.outcome import Outcome

# Prefect renders the record as markdown, so the values in it must not start raw HTML or a link.
# A code span (CommonMark: a backtick run closed by the next run of the same length) is shown as
# is; outside one, a backslash escape is kept and `<` or `[` is escaped.
MARKDOWN_TOKEN = re.compile(
    r"(?P<code>(?<!`)(?P<fence>`+)(?!`).+?(?<!`)(?P=fence)(?!`))"
    r"|(?P<escape>\\[!-/:-@\[-`{-~])|(?P<opener>[<\[])",
    re.DOTALL,
)
LINE_BREAK = re.compile(r"\r\n?|\n")


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
    """Everything one run decided, with links to the evidence."""

    run_name: str
    dataset: str
    batch: str
    batch_sha256: str
    rows: int
    outcome: Outcome
    validation: str
    unnamed_columns: tuple[str, ...] = ()
    data_docs: str | None = None
    drift: tuple[str, ...] = ()
    drift_report: str | None = None
    decision: str | None = None
    candidates: tuple[CandidateRow, ...] = ()
    promotion: str | None = None
    registry: tuple[str, ...] = ()
    dispatch: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def render_record(record: DecisionRecord) -> str:
    """Render the record as markdown (also used as the Prefect artifact).

    Names and values in it show as text: names as code spans, and the prose of each stage with
    `<` and `[` escaped outside its code spans.
    """
    lines = [
        f"# driftloop run {record.run_name}: {record.outcome}",
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
    if record.data_docs:
        lines += ["", f"Data Docs: [{_name(record.data_docs)}]({record.data_docs})"]
    if record.drift or record.drift_report:
        lines += ["", "## Monitoring", ""] + [f"- {_prose(line)}" for line in record.drift]
        if record.drift_report:
            lines += [
                "",
                f"Evidently report: [{_name(record.drift_report)}]({record.drift_report})",
            ]
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
    if record.dispatch:
        lines += ["", "## CD dispatch", "", _prose(record.dispatch)]
    if record.seconds:
        stages = ", ".join(f"{stage} {secs:.2f} s" for stage, secs in record.seconds.items())
        lines += ["", f"Stage wall times: {stages}."]
    return "\n".join(lines) + "\n"


def write_record(record: DecisionRecord, path: Path) -> Path:
    """Write the record's markdown to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_record(record), encoding="utf-8")
    return path


def _name(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1]


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
