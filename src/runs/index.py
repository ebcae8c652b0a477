"""The index of runs: one small JSON entry per decision record, and `index.html` listing them."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from runs.links import is_relative_href
from runs.pages import render_page, write_atomically

logger = logging.getLogger(__name__)

INDEX_PAGE = "index.html"
RECORD_GLOB = "decision-*"
# What an entry may link to, in the index's column order, with each column's heading.
LINKS = {
    "record": "decision record",
    "drift_report": "Evidently report",
    "data_docs": "Data Docs",
    "model_card": "model card",
}


@dataclass(frozen=True)
class RunEntry:
    """One run as the index lists it; its links are relative to the folder of its entry."""

    run: str
    at: str
    dataset: str = ""
    batch: str = ""
    outcome: str = ""
    metric: str = ""
    value: float | None = None
    estimated: bool = False
    links: dict[str, str] = field(default_factory=dict)

    @property
    def shown_time(self) -> str:
        """When the run ended, to the second (`at` is an ISO time in UTC)."""
        return self.at[:19].replace("T", " ")

    @property
    def shown_metric(self) -> str:
        """The production model's metric on the batch ("~" and a note when estimated)."""
        if self.value is None:
            return ""
        if self.estimated:
            return f"{self.metric} ~{self.value:.4f} (estimated)"
        return f"{self.metric} {self.value:.4f}"


def entry_path(record: Path) -> Path:
    """Where the index entry of the decision record at `record` lives (beside it)."""
    return record.with_suffix(".json")


def write_entry(entry: RunEntry, path: Path) -> Path:
    """Write `entry` as JSON to `path`, whole or not at all."""
    return write_atomically(path, json.dumps(asdict(entry), indent=1) + "\n")


def read_entry(path: Path) -> RunEntry:
    """Read an entry `write_entry` wrote; links that are not relative paths are dropped.

    Raises:
        OSError: the file cannot be read.
        ValueError: it is not an entry (not JSON, or fields of the wrong type).
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    texts = {k: data.get(k, "") for k in ("run", "at", "dataset", "batch", "outcome", "metric")}
    if not all(isinstance(v, str) for v in texts.values()) or not texts["run"]:
        raise ValueError("run, at, dataset, batch, outcome and metric must be text")
    value, links = data.get("value"), data.get("links", {})
    if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
        raise ValueError(f"value {value!r} is not a number")
    if not isinstance(links, dict):
        raise ValueError("links must be an object")
    return RunEntry(
        **texts,
        value=float(value) if value is not None and math.isfinite(value) else None,
        estimated=data.get("estimated") is True,
        links={k: v for k, v in links.items() if k in LINKS and _linkable(v)},
    )


def read_entries(folder: Path) -> tuple[list[RunEntry], int]:
    """Every run recorded in `folder`, newest first, and how many entries could not be read.

    A record without a readable entry (written before entries were, or by a run that stopped
    before writing its entry) is still listed, by its file's name and time.
    """
    entries, listed, skipped = [], set(), 0
    for path in folder.glob(f"{RECORD_GLOB}.json"):
        try:
            entries.append(read_entry(path))
        except (OSError, ValueError) as exc:
            logger.warning("run index: left out %s, not a readable entry: %s", path, exc)
            skipped += 1
        else:
            listed.add(path.stem)
    for record in folder.glob(f"{RECORD_GLOB}.md"):
        if record.stem in listed:
            continue
        try:
            entries.append(_bare_entry(record))
        except OSError as exc:  # removed or unreadable since the folder was listed
            logger.warning("run index: left out %s: %s", record, exc)
    entries.sort(key=lambda e: (e.at, e.run), reverse=True)
    return entries, skipped


def write_index(folder: Path) -> Path:
    """Rewrite `folder/index.html` from the entries and records in `folder`.

    Returns:
        The page's path.
    """
    entries, skipped = read_entries(folder)
    page = render_page(INDEX_PAGE, entries=entries, skipped=skipped, columns=LINKS)
    return write_atomically(folder / INDEX_PAGE, page)


def records_by_batch(folder: Path) -> dict[str, Path]:
    """The decision record (HTML) of each batch recorded in `folder`, by batch name."""
    entries, _ = read_entries(folder)
    found: dict[str, Path] = {}
    for entry in reversed(entries):  # oldest first, so a batch's newest record wins
        if entry.batch and "record" in entry.links:
            found[entry.batch] = folder / unquote(entry.links["record"])
    return found


def _linkable(href: Any) -> bool:
    return isinstance(href, str) and bool(href) and is_relative_href(href)


def _bare_entry(record: Path) -> RunEntry:
    """An entry for a record with none of its own: its run name and time, and a link to it."""
    html = record.with_suffix(".html")
    shown = html if html.is_file() else record
    at = datetime.fromtimestamp(record.stat().st_mtime, UTC).isoformat(timespec="seconds")
    return RunEntry(
        run=record.stem.removeprefix("decision-"),
        at=at,
        outcome=_heading_outcome(record),
        links={"record": quote(shown.name)},
    )


def _heading_outcome(record: Path) -> str:
    # A record's first line is "# driftloop run <name>: <outcome>".
    with record.open(encoding="utf-8", errors="replace") as handle:
        first = handle.readline()
    return first.partition(": ")[2].strip() if first.startswith("# driftloop run ") else ""
