"""The replay timeline's chart: the production model's metric per batch, with what happened."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from runs.outcome import Outcome

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# Batches that were not measured: the plotted line breaks at them rather than bridging them.
SKIPPED = (Outcome.REJECTED.value, Outcome.DUPLICATE.value)


def plotted_values(frame: pd.DataFrame) -> pd.Series:
    """The metric line's value at every batch: NaN where nothing was measured.

    Every batch keeps its place, so the line stops at a rejected, duplicate or unlabelled
    batch instead of drawing a straight line across the gap.
    """
    return frame["value"].astype("float64").mask(frame["outcome"].isin(SKIPPED))


def plot_timeline(frame: pd.DataFrame, path: Path, *, policy: str) -> Path:
    """Plot the production model's metric per batch, with retrains and promotions marked."""
    import matplotlib  # noqa: PLC0415 - only simulations draw; keep flow start-up light

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # noqa: PLC0415 - see above

    metric = next((m for m in frame["metric"].dropna() if m), "metric")
    x = range(len(frame))
    fig, ax = plt.subplots(figsize=(11, 4), dpi=110)
    ax.plot(
        list(x),
        plotted_values(frame).to_numpy(),
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
        if row["outcome"] == Outcome.REJECTED:
            ax.axvline(position, color="#d62728", alpha=0.5, ls=":")
        elif row["outcome"] == Outcome.DUPLICATE:
            ax.axvline(position, color="#7f7f7f", alpha=0.5, ls=":")
    _mark_skipped(ax, frame)
    ax.plot([], [], color="#2ca02c", lw=2, label="retrained and promoted")
    ax.plot([], [], color="#ff7f0e", ls="--", label="retrained, champion kept")
    ax.set_xticks(list(x), frame["batch"], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel(metric)
    ax.set_title(f"driftloop replay, policy '{policy}'")
    # Beside the axes, not on them: inside, it hid the points of low-scoring batches.
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _mark_skipped(ax: Axes, frame: pd.DataFrame) -> None:
    """Mark the batches nothing was measured on at the foot of the plot: they have no value."""
    foot = ax.get_xaxis_transform()  # x in data units, y as a fraction of the axes
    for outcome, marker, colour, label in (
        (Outcome.REJECTED, "x", "#d62728", "batch rejected (not measured)"),
        (Outcome.DUPLICATE, "s", "#7f7f7f", "duplicate batch (skipped)"),
    ):
        positions = [i for i, shown in enumerate(frame["outcome"]) if shown == outcome]
        if positions:
            ax.scatter(
                positions,
                [0.04] * len(positions),
                transform=foot,
                marker=marker,
                color=colour,
                s=50,
                zorder=3,
                label=label,
            )
