"""The model card: one markdown page per registered version, logged with it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from config.manifest import DataFile
from evaluation.comparison import PairedDifference

if TYPE_CHECKING:
    # Only named in annotations: promotion imports the release, whose history uses this
    # module's markdown helpers.
    from registry.promotion import PromotionDecision

# Values on the card show as text: outside a code span, `<` (raw HTML) and `[` (a link) are
# escaped; a code span (a backtick run closed by the next run of the same length) stays as is.
_MARKDOWN_TOKEN = re.compile(
    r"(?P<code>(?<!`)(?P<fence>`+)(?!`).+?(?<!`)(?P=fence)(?!`))|(?P<opener>[<\[])"
)
_LINE_BREAK = re.compile(r"\r\n?|\n")


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
    awaiting: str | None = None  # held for approval: how to give it
    not_servable: str | None = None  # why the registered model failed the served check
    retrain_reasons: Sequence[str] = ()
    drift_report: str | None = None
    slice_table: str | None = None
    tuning: dict[str, Any] = field(default_factory=dict)
    git_commit: str | None = None
    data_revision: str = ""  # the git commit holding the DVC pointers of every file, or why none
    data_remote: str = ""  # the DVC remote the files are pushed to
    created_at: str = ""
    # What a caller of the served model passes (raw columns and history-based inputs), and the
    # derived features by name with how each is computed.
    inputs: Sequence[str] = ()
    derived: dict[str, str] = field(default_factory=dict)


def render_model_card(facts: CardFacts) -> str:
    """The card as markdown: data, features, metrics with intervals, slices, drift, decision.

    Names and values show as text (names as code spans, see `code` and `prose`).
    """
    decision = facts.decision
    verdict = "promoted to production" if facts.promoted else "not promoted"
    if facts.awaiting:
        verdict = "awaiting approval"
    lines = [
        f"# Model card: {prose(facts.name)} v{facts.version}",
        "",
        f"- Task: {prose(facts.task)}, target {code(facts.target)}",
        f"- Training run: {code(facts.run_id)}"
        + (f", code {code(facts.git_commit)}" if facts.git_commit else ""),
        f"- Created: {facts.created_at}",
        f"- Outcome: **{verdict}**",
        "",
        "## Data",
        "",
        f"Trained on {facts.train_rows} rows; scored on a time-ordered holdout of "
        f"{facts.holdout_rows} newer rows it never saw (and the champion never trained on).",
        "",
        *_data_table(facts),
        "",
        "## Features",
        "",
        f"- Numeric ({len(facts.numeric)}): " + (", ".join(map(code, facts.numeric)) or "-"),
        f"- Categorical ({len(facts.categorical)}): "
        + (", ".join(f"{code(c)} ({len(v)} values)" for c, v in facts.categorical.items()) or "-"),
        *[f"- Derived {code(name)}: {prose(how)}" for name, how in facts.derived.items()],
        *(
            ["- The served model takes: " + ", ".join(map(code, facts.inputs))]
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
        ", ".join(f"{code(k)}={prose(str(v))}" for k, v in sorted(facts.params.items())),
    ]
    if facts.tuning:
        tuning = ", ".join(f"{k} {v}" for k, v in sorted(facts.tuning.items()))
        lines += ["", "Tuning: " + prose(tuning)]
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
        lines.append(f"The monitoring report that led to this training: {link(facts.drift_report)}")
    lines += ["", "## Decision", ""]
    if facts.retrain_reasons:
        lines.append("Trained because: " + "; ".join(map(prose, facts.retrain_reasons)))
        lines.append("")
    lines += [f"Rule: {prose(decision.rule)}.", "", f"Verdict: {prose(decision.reason)}", ""]
    if facts.lost:
        lines += [f"Not released: {prose(facts.lost)}", ""]
    if facts.not_servable:
        lines += [f"Not servable: {prose(facts.not_servable)}", ""]
    if facts.awaiting:
        lines += [
            f"Awaiting approval when this card was written: {prose(facts.awaiting)}. It is "
            "released only when a person approves it; the version's `driftloop.approval` tag "
            "and `driftloop history` say what became of it.",
            "",
        ]
    return "\n".join(lines)


def _data_table(facts: CardFacts) -> list[str]:
    """Each training file by DVC hash (md5: its key in the DVC cache and remote) and sha256."""
    rows = [
        f"| {cell(code(e.path))} | {cell(code(e.md5) if e.md5 else '-')} | "
        f"{cell(code(e.sha256[:16]))} | {cell(code(e.pointer) if e.pointer else '-')} |"
        for e in facts.manifest
    ]
    where = []
    if facts.data_revision:
        where.append(f"DVC pointers at git revision: {code(facts.data_revision)}")
    if facts.data_remote:
        where.append(f"DVC remote: {code(facts.data_remote)}")
    restore = code(f"driftloop data {facts.version} --model {facts.name} --restore DIR")
    return [
        "| file | DVC md5 | sha256 | DVC pointer |",
        "|---|---|---|---|",
        *rows,
        "",
        *(f"- {line}" for line in where),
        f"- {restore} restores them.",
    ]


def code(value: str) -> str:
    """`value` as one markdown code span, whatever backticks or line breaks it holds."""
    flat = _LINE_BREAK.sub(" ", str(value))
    fence = "`" * (max(map(len, re.findall("`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def prose(text: str) -> str:
    """`text` on one line, as markdown that cannot start raw HTML or a link.

    Code spans in it are kept; outside them, `<` and `[` are escaped.
    """
    flat = _LINE_BREAK.sub(" ", text)
    return _MARKDOWN_TOKEN.sub(lambda t: t["code"] or "\\" + t["opener"], flat)


def cell(text: str) -> str:
    """Markdown `text` made safe for a table cell: a `|` in it no longer ends the cell."""
    return text.replace("|", "\\|")


def link(location: str) -> str:
    """A report location: a link when a browser opens it, else a code span to copy.

    `runs:/` and `models:/` locations resolve through MLflow wherever its store is reachable
    (`mlflow artifacts download -u ...`); a browser does not open them.
    """
    if location.startswith(("http://", "https://")):
        name = location.rstrip("/").rsplit("/", 1)[-1]
        return f"[{prose(name)}](<{location.replace('>', '%3E').replace(' ', '%20')}>)"
    return code(location)


def _metric_row(metric: str, value: float, interval: tuple[float, float] | None) -> str:
    shown = f"{interval[0]:.4f} - {interval[1]:.4f}" if interval else "-"
    return f"| {cell(prose(metric))} | {value:.4f} | {shown} |"


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
            f"| {cell(prose(d.metric))} | {d.challenger:.4f} | {d.champion:.4f} | {d.gain:+.4f} | "
            f"{d.low:+.4f} | {d.high:+.4f} |"
            for d in comparisons
        ],
        "",
        f"Bounds are one-sided at {first.confidence:.0%} confidence.",
    ]


TASK_WORDS = {"binary": "binary classification", "multiclass": "multiclass classification"}


def purpose(dataset: str, task: str, target: str, inputs: Sequence[str]) -> str:
    """What a model predicts, in one markdown sentence (for the registered model's page)."""
    kind = TASK_WORDS.get(task, task)
    return (
        f"Predicts {code(target)} ({kind}) for the {code(dataset)} dataset from "
        f"{len(inputs)} inputs; trained, judged and released by driftloop."
    )
