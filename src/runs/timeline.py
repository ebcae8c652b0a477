"""The timeline of a replayed history: a CSV, a plot, and an HTML page with both."""

from __future__ import annotations

import base64
import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from config.errors import ConfigError
from runs.chart import plot_timeline
from runs.index import INDEX_PAGE, records_by_batch
from runs.links import relative_href
from runs.pages import render_page

if TYPE_CHECKING:
    from evaluation.baselines import Baselines

COLUMNS = [
    "batch",
    "rows",
    "metric",
    "value",
    "estimated",
    "decision",
    "reasons",
    "signals",
    "retrained",
    "promoted",
    "train_rows",
    "outcome",
    "production_version",
    "challenger_version",
    "never_retrained",
    "last_value",
    "record",
]


# What a replay writes under its output folder; a new replay there starts from none of it.
REPLAY_OUTPUTS = (
    "ledger.jsonl",
    "mlflow.db",
    "mlartifacts",
    "great_expectations",
    "reports",
    "quarantine",
    "incoming",
    ".locks",
    "timeline.csv",
    "timeline.png",
    "timeline.html",
)


REPLAY_MARKER = ".driftloop-replay"
REPLAY_NOTE = (
    "A driftloop replay writes here; the next replay into this folder removes its outputs.\n"
)


def clear_replay(root: Path, *, keep: Path) -> list[str]:
    """Remove an earlier replay's outputs from `root` (only those: nothing else in it).

    Without this, a second replay into the same folder would find every batch in the first
    one's ledger and skip them all as duplicates. A folder holding such names that no replay
    wrote (the project itself, with its registry, ledger and committed suites) is refused, and
    nothing is removed before every check has passed. The folder is then marked as a replay's.

    Raises:
        ConfigError: `root` holds outputs no replay wrote, or `keep` (the batches being
            replayed) lies inside one of them.
    """
    found = [
        name for name in REPLAY_OUTPUTS if (root / name).exists() or (root / name).is_symlink()
    ]
    # A replay from before the marker existed left its timeline.
    earlier = (root / REPLAY_MARKER).is_file() or (root / "timeline.csv").is_file()
    if found and not earlier:
        shown = ", ".join(found)
        raise ConfigError(
            f"the output folder {root} holds {shown} but no replay marker ({REPLAY_MARKER}) or "
            "timeline, so a replay will not remove them: choose an empty or new --out folder (or "
            "delete that folder, if an interrupted replay left it)"
        )
    for name in found:
        if keep.resolve().is_relative_to((root / name).resolve()):
            raise ConfigError(
                f"the batches {keep} are inside {root / name}, which a replay rewrites: choose "
                "an output folder that does not contain the batches"
            )
    for name in found:
        target = root / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
    root.mkdir(parents=True, exist_ok=True)
    (root / REPLAY_MARKER).write_text(REPLAY_NOTE, encoding="utf-8")
    return found


def timeline_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per batch with the timeline columns (list fields joined with '; ')."""
    frame = pd.DataFrame(rows).reindex(columns=COLUMNS)
    for column in ("reasons", "signals"):
        frame[column] = frame[column].map(
            lambda v: "; ".join(v) if isinstance(v, list | tuple) else (v or "")
        )
    frame["rows"] = frame["rows"].fillna(0).astype(int)
    frame["train_rows"] = frame["train_rows"].fillna(0).astype(int)
    frame["retrained"] = frame["retrained"].eq(True)
    frame["promoted"] = frame["promoted"].eq(True)
    return frame


def write_timeline(
    rows: list[dict[str, Any]],
    out: Path,
    *,
    policy: str,
    baselines: Baselines | None = None,
    reports: Path | None = None,
) -> Path:
    """Write `timeline.csv`, `timeline.png` and `timeline.html` into `out`.

    With `baselines`, each batch also shows the metric of never retraining (the first model)
    and, for a model of a difference, of the naive last-value forecast. A batch without a
    `record` (a rejected one's run ends in an error, not a summary) takes the one `reports`
    (default `out/reports`) holds for it. The page links each batch to its record.

    Returns:
        The HTML page's path.
    """
    reports = reports or out / "reports"
    found = records_by_batch(reports) if reports.is_dir() else {}
    rows = [
        {**row, "record": row.get("record") or _path(found.get(row.get("batch") or ""))}
        for row in rows
    ]
    if baselines is not None:
        rows = [
            {
                **row,
                "never_retrained": baselines.never_retrained.get(row["batch"]),
                "last_value": baselines.last_value.get(row["batch"]),
            }
            for row in rows
        ]
    frame = timeline_frame(rows)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "timeline.csv", index=False)
    png = plot_timeline(frame, out / "timeline.png", policy=policy)
    page = out / "timeline.html"
    index = reports / INDEX_PAGE
    shown = relative_href(index, out) if index.is_file() else None
    page.write_text(_html(frame, png, policy, out, shown), encoding="utf-8")
    return page


def _path(found: Path | None) -> str | None:
    return str(found.with_suffix(".md")) if found else None  # as the other rows name theirs


def replay_figures(frame: pd.DataFrame) -> dict[str, Any]:
    """The replay in a few numbers: mean metrics, retrains, promotions, rows trained.

    Means are over the batches driftloop's production model was measured on (each before any
    retraining on it), for driftloop and for each baseline alike.
    """
    metric = next((m for m in frame["metric"].dropna() if m), "")
    compared = frame[frame["value"].notna()]
    figures: dict[str, Any] = {"metric": metric, "batches": len(frame)}
    for column, key in (("value", "driftloop"), ("never_retrained", "never_retrained")):
        values = compared[column].astype("float64")
        figures[key] = float(values.mean()) if values.notna().any() else None
    naive = compared["last_value"].astype("float64")
    figures["last_value"] = float(naive.mean()) if naive.notna().any() else None
    figures["compared"] = len(compared)
    figures["retrains"] = int(frame["retrained"].sum())
    figures["promotions"] = int(frame["promoted"].sum())
    figures["rejected"] = int((frame["outcome"] == "rejected").sum())
    figures["train_rows"] = int(frame["train_rows"].sum())
    return figures


def describe_replay(figures: dict[str, Any]) -> str:
    """One sentence for the figures of `replay_figures`."""
    count = f"{figures['batches']} batches"
    if figures["driftloop"] is None:
        return count
    metric = figures["metric"]
    parts = [f"mean {metric} {figures['driftloop']:.4f} over {figures['compared']} batches"]
    for key, label in (("never_retrained", "never retrained"), ("last_value", "last value")):
        if figures[key] is not None:
            parts.append(f"{label} {figures[key]:.4f}")
    return (
        f"{count}; " + ", ".join(parts) + f"; {figures['retrains']} retrains, "
        f"{figures['promotions']} promotions, {figures['rejected']} rejected, "
        f"{figures['train_rows']} rows trained"
    )


def _html(frame: pd.DataFrame, png: Path, policy: str, out: Path, index: str | None) -> str:
    columns = [c for c in COLUMNS if c not in ("batch", "record")]  # the batch links its record
    rows = [
        {
            "batch": _cell(row["batch"]),
            "outcome": _cell(row["outcome"]),
            "cells": [_cell(row[c]) for c in columns],
            "record": _record_href(row["record"], out),
        }
        for row in frame.to_dict("records")
    ]
    return render_page(
        "timeline.html",
        policy=policy,
        index=index,
        stats=describe_replay(replay_figures(frame)),
        estimated=bool(frame["estimated"].notna().any()),
        image=base64.b64encode(png.read_bytes()).decode(),
        columns=["batch", *columns],
        rows=rows,
    )


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _record_href(record: Any, out: Path) -> str | None:
    """A link from `out` to the batch's record: its HTML page, else its markdown, if written."""
    if not isinstance(record, str) or not record:
        return None
    markdown = Path(record)
    found = next((p for p in (markdown.with_suffix(".html"), markdown) if p.is_file()), None)
    return relative_href(found, out) if found else None
