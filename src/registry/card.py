"""The model card: one markdown page per registered version, logged with it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from config.manifest import DataFile
from evaluation.comparison import PairedDifference
from registry.promotion import PromotionDecision


@dataclass(frozen=True)
class CardFacts:
    """What the card says about one version."""

    name: str
    version: str
    run_id: str
    task: str
    target: str
    numeric: Sequence[str]
    categorical: dict[str, list[str]]
    manifest: Sequence[DataFile]
    train_rows: int
    holdout_rows: int
    params: dict[str, Any]
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    decision: PromotionDecision
    promoted: bool
    champion_version: str | None
    lost: str | None = None
    retrain_reasons: Sequence[str] = ()
    drift_report: str | None = None
    slice_table: str | None = None
    tuning: dict[str, Any] = field(default_factory=dict)
    git_commit: str | None = None
    created_at: str = ""
    # What a caller of the served model passes (raw columns and history-based inputs), and the
    # derived features by name with how each is computed.
    inputs: Sequence[str] = ()
    derived: dict[str, str] = field(default_factory=dict)


def render_model_card(facts: CardFacts) -> str:
    """The card as markdown: data, features, metrics with intervals, slices, drift, decision."""
    decision = facts.decision
    verdict = "promoted to production" if facts.promoted else "not promoted"
    lines = [
        f"# Model card: {facts.name} v{facts.version}",
        "",
        f"- Task: {facts.task}, target `{facts.target}`",
        f"- Training run: `{facts.run_id}`"
        + (f", code `{facts.git_commit}`" if facts.git_commit else ""),
        f"- Created: {facts.created_at}",
        f"- Outcome: **{verdict}**",
        "",
        "## Data",
        "",
        f"Trained on {facts.train_rows} rows; scored on a time-ordered holdout of "
        f"{facts.holdout_rows} newer rows it never saw (and the champion never trained on).",
        "",
        "| file | sha256 |",
        "|---|---|",
        *[f"| `{e.path}` | `{e.sha256[:16]}` |" for e in facts.manifest],
        "",
        "## Features",
        "",
        f"- Numeric ({len(facts.numeric)}): " + (", ".join(f"`{c}`" for c in facts.numeric) or "-"),
        f"- Categorical ({len(facts.categorical)}): "
        + (", ".join(f"`{c}` ({len(v)} values)" for c, v in facts.categorical.items()) or "-"),
        *[f"- Derived `{name}`: {how}" for name, how in facts.derived.items()],
        *(
            ["- The served model takes: " + ", ".join(f"`{c}`" for c in facts.inputs)]
            if facts.inputs
            else []
        ),
        "",
        "## Holdout metrics (95% bootstrap intervals)",
        "",
        "| metric | value | interval |",
        "|---|---|---|",
        *[_metric_row(m, v, facts.intervals.get(m)) for m, v in sorted(facts.metrics.items())],
        "",
        "## Parameters",
        "",
        ", ".join(f"`{k}`={v}" for k, v in sorted(facts.params.items())),
    ]
    if facts.tuning:
        lines += ["", "Tuning: " + ", ".join(f"{k} {v}" for k, v in sorted(facts.tuning.items()))]
    lines += ["", "## Comparison with the champion", ""]
    lines += _comparison(decision.comparisons, facts.champion_version)
    lines += ["", "## Slices", "", facts.slice_table or "No slice columns in the dataset spec."]
    lines += [
        "",
        "## Drift reference",
        "",
        "While this version is in production, each new batch is compared with the data above "
        "(its training files).",
    ]
    if facts.drift_report:
        lines.append(f"The monitoring report that led to this training: {facts.drift_report}")
    lines += ["", "## Decision", ""]
    if facts.retrain_reasons:
        lines.append("Trained because: " + "; ".join(facts.retrain_reasons))
        lines.append("")
    lines += [f"Rule: {decision.rule}.", "", f"Verdict: {decision.reason}", ""]
    if facts.lost:
        lines += [f"Not released: {facts.lost}", ""]
    return "\n".join(lines)


def _metric_row(metric: str, value: float, interval: tuple[float, float] | None) -> str:
    shown = f"{interval[0]:.4f} - {interval[1]:.4f}" if interval else "-"
    return f"| {metric} | {value:.4f} | {shown} |"


def _comparison(comparisons: Sequence[PairedDifference], champion: str | None) -> list[str]:
    if champion is None or not comparisons:
        return ["No champion: the first model is judged by the floor alone."]
    first = comparisons[0]
    return [
        f"Against v{champion} on the same holdout (paired bootstrap, {first.resamples} "
        f"resamples; gain is positive when the challenger is better):",
        "",
        "| metric | challenger | champion | gain | lower bound | upper bound |",
        "|---|---|---|---|---|---|",
        *[
            f"| {d.metric} | {d.challenger:.4f} | {d.champion:.4f} | {d.gain:+.4f} | "
            f"{d.low:+.4f} | {d.high:+.4f} |"
            for d in comparisons
        ],
        "",
        f"Bounds are one-sided at {first.confidence:.0%} confidence.",
    ]
