"""The timeline of a replayed history: a CSV, a plot, and an HTML page with both."""

from __future__ import annotations

import base64
import html
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from config.errors import ConfigError

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


def clear_replay(root: Path, *, keep: Path) -> list[str]:
    """Remove an earlier replay's outputs from `root` (only those: nothing else in it).

    Without this, a second replay into the same folder would find every batch in the first
    one's ledger and skip them all as duplicates.

    Raises:
        ConfigError: `keep` (the batches being replayed) lies inside one of those outputs.
    """
    removed = []
    for name in REPLAY_OUTPUTS:
        target = root / name
        if not target.exists() and not target.is_symlink():
            continue
        if keep.resolve().is_relative_to(target.resolve()):
            raise ConfigError(
                f"the batches {keep} are inside {target}, which a replay rewrites: choose "
                "an output folder that does not contain the batches"
            )
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
        removed.append(name)
    return removed


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
    rows: list[dict[str, Any]], out: Path, *, policy: str, baselines: Baselines | None = None
) -> Path:
    """Write `timeline.csv`, `timeline.png` and `timeline.html` into `out`.

    With `baselines`, each batch also shows the metric of never retraining (the first model)
    and, for a model of a difference, of the naive last-value forecast.

    Returns:
        The HTML page's path.
    """
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
    page.write_text(_html(frame, png, policy), encoding="utf-8")
    return page


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


def plot_timeline(frame: pd.DataFrame, path: Path, *, policy: str) -> Path:
    """Plot the production model's metric per batch, with retrains and promotions marked."""
    import matplotlib  # noqa: PLC0415 - only simulations draw; keep flow start-up light

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # noqa: PLC0415 - see above

    metric = next((m for m in frame["metric"].dropna() if m), "metric")
    x = range(len(frame))
    fig, ax = plt.subplots(figsize=(10, 4), dpi=110)
    realized = frame["value"].astype("float64")
    known = realized.notna().to_numpy()
    positions = [i for i, k in zip(x, known, strict=True) if k]
    ax.plot(
        positions,
        realized[known],
        marker="o",
        color="#1f77b4",
        label=f"production {metric} (before retraining)",
    )
    ax.scatter(
        list(x),
        frame["estimated"].astype("float64"),
        marker="o",
        facecolors="none",
        edgecolors="#1f77b4",
        label=f"estimated {metric} (no labels)",
    )
    for i, row in frame.iterrows():
        position = list(frame.index).index(i)
        if row["promoted"]:
            ax.axvline(position, color="#2ca02c", alpha=0.5, lw=2)
        elif row["retrained"]:
            ax.axvline(position, color="#ff7f0e", alpha=0.4, ls="--")
        if row["outcome"] == "rejected":
            ax.axvline(position, color="#d62728", alpha=0.5, ls=":")
    ax.plot([], [], color="#2ca02c", lw=2, label="retrained and promoted")
    ax.plot([], [], color="#ff7f0e", ls="--", label="retrained, champion kept")
    ax.plot([], [], color="#d62728", ls=":", label="batch rejected")
    ax.set_xticks(list(x), frame["batch"], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(metric)
    ax.set_title(f"driftloop replay, policy '{policy}'")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _html(frame: pd.DataFrame, png: Path, policy: str) -> str:
    image = base64.b64encode(png.read_bytes()).decode()
    stats = html.escape(describe_replay(replay_figures(frame)))
    caveat = ""
    if frame["estimated"].notna().any():
        caveat = (
            " <code>estimated</code> (batches without labels) is an ESTIMATE from the model's"
            " calibrated probabilities: it reflects covariate shift, not pure concept drift,"
            " where a model stays confident and wrong."
        )
    table = frame.drop(columns=["record"]).to_html(
        index=False, na_rep="", escape=True, float_format=lambda v: f"{v:.4f}"
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>driftloop replay: {html.escape(policy)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:4px 6px;vertical-align:top}}</style></head><body>
<h1>driftloop replay, policy <code>{html.escape(policy)}</code></h1>
<p>{stats}. <code>value</code> is the production model's metric on each batch, measured before
any retraining on it.{caveat}</p>
<img alt="timeline" src="data:image/png;base64,{image}">
<h2>Every batch: decision, the numbers behind it, the signals that fired</h2>
{table}
</body></html>
"""
