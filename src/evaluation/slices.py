"""Per-slice comparison of a challenger and the champion on the same holdout."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from numpy.typing import ArrayLike

from evaluation.metrics import HIGHER_IS_BETTER, compute_metrics, improvement

logger = logging.getLogger(__name__)

MISSING_GROUP = "missing"
# Edges are printed with the fewest decimals (from 2) that keep every bin label distinct.
_MIN_DECIMALS, _MAX_DECIMALS = 2, 8


@dataclass(frozen=True)
class SliceRow:
    """One group of one slice column: its size and both models' metric on it."""

    column: str
    group: str
    rows: int
    challenger: float | None
    champion: float | None
    gain: float | None
    judged: bool

    @property
    def label(self) -> str:
        """The group with its column, e.g. `temperature [-1.21, 0.33]`."""
        return f"{self.column} {self.group}"


@dataclass(frozen=True)
class SliceReport:
    """The promotion metric per slice group; missing values are metrics undefined on a group."""

    metric: str
    rows: tuple[SliceRow, ...]
    tolerance: float
    min_rows: int


def compare_slices(
    holdout: pd.DataFrame,
    *,
    columns: Sequence[str],
    numeric_columns: Collection[str],
    bins: int,
    target: str,
    task: str,
    classes: list[Any],
    metric: str,
    challenger_scores: ArrayLike,
    champion_scores: ArrayLike | None = None,
    min_rows: int = 30,
    tolerance: float = 0.02,
) -> SliceReport:
    """Compute the promotion metric on every group of every slice column, for both models.

    Args:
        holdout: The labelled holdout both models were scored on, one row per score.
        columns: Slice columns, in report order.
        numeric_columns: Which of them are cut into quantile bins (the rest are categorical).
        bins: Number of quantile bins for a numeric column (fewer where edges coincide).
        target: The label column.
        task: "binary", "multiclass" or "regression".
        classes: The label values in model order (empty for regression).
        metric: The promotion metric.
        challenger_scores: The challenger's scores on `holdout`, as `compute_metrics` takes them.
        champion_scores: The champion's scores on `holdout`; None when there is no champion.
        min_rows: Groups with fewer rows are shown but not judged.
        tolerance: How far below the champion a judged group may fall, in metric units.

    Returns:
        One row per non-empty group, columns in the given order, groups in bin or sorted order.

    Raises:
        ValueError: the metric is unknown, or a score array does not match the holdout.
    """
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"metric {metric!r} is unknown: use one of {sorted(HIGHER_IS_BETTER)}")
    size = len(holdout)
    challenger = _checked_scores(challenger_scores, size, "challenger")
    champion = (
        None if champion_scores is None else _checked_scores(champion_scores, size, "champion")
    )
    score = _metric_function(task, classes, metric)
    y_true = holdout[target].to_numpy()
    rows: list[SliceRow] = []
    for column in columns if size else ():  # an empty holdout has no groups
        keys, labels = _groups(holdout[column], numeric=column in numeric_columns, bins=bins)
        counts = np.bincount(keys, minlength=len(labels))
        ours = _by_group(score, y_true, challenger, keys, column)
        theirs = {} if champion is None else _by_group(score, y_true, champion, keys, column)
        for key, group in enumerate(labels):
            if counts[key] == 0:
                continue
            mine, best = ours.get(key), theirs.get(key)
            gain = None if mine is None or best is None else improvement(metric, mine, best)
            count = int(counts[key])
            rows.append(SliceRow(column, group, count, mine, best, gain, count >= min_rows))
    judged = sum(row.judged for row in rows)
    logger.info("%s on %d slice groups, %d with >= %d rows", metric, len(rows), judged, min_rows)
    return SliceReport(metric=metric, rows=tuple(rows), tolerance=tolerance, min_rows=min_rows)


def slice_regressions(report: SliceReport) -> tuple[str, ...]:
    """Judged groups where the challenger trails the champion by more than the tolerance.

    Args:
        report: The per-slice comparison.

    Returns:
        One message per regression, with its numbers; empty when no group regressed.
    """
    return tuple(
        f"{row.label}: {report.metric} {row.challenger:.3f} vs {row.champion:.3f} "
        f"({row.gain:+.3f}) over {row.rows} rows, tolerance {report.tolerance:g}"
        for row in report.rows
        if row.judged
        and row.gain is not None
        and row.challenger is not None
        and row.champion is not None
        and row.gain < -report.tolerance
    )


def render_slice_table(report: SliceReport) -> str:
    """A markdown table of the per-slice comparison, for the decision record and model card."""
    lines = [
        f"| column | group | rows | challenger {report.metric} | champion {report.metric} "
        "| gain | judged |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in report.rows:
        cells = [
            _cell(row.column),
            _cell(row.group),
            str(row.rows),
            _number(row.challenger),
            _number(row.champion),
            _number(row.gain, signed=True),
            "yes" if row.judged else f"no (< {report.min_rows} rows)",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _checked_scores(scores: ArrayLike, rows: int, name: str) -> np.ndarray:
    array = np.asarray(scores)
    if array.ndim == 0 or len(array) != rows:
        raise ValueError(f"{name} scores have {array.size} values for {rows} holdout rows")
    return array


def _metric_function(task: str, classes: list[Any], metric: str) -> Callable[..., float]:
    def score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        values = compute_metrics(task, pd.Series(y_true), y_pred, classes, only=metric)
        return values.get(metric, math.nan)

    return score


def _by_group(
    score: Callable[..., float],
    y_true: np.ndarray,
    y_pred: np.ndarray,
    keys: np.ndarray,
    column: str,
) -> dict[int, float | None]:
    # MetricFrame hands each group's rows of a 2-D y_pred (class probabilities) to the metric.
    frame = MetricFrame(
        metrics=score, y_true=y_true, y_pred=y_pred, sensitive_features=pd.Series(keys, name=column)
    )
    return {
        int(key): None if math.isnan(value) else float(value)
        for key, value in frame.by_group.items()
    }


def _groups(values: pd.Series, *, numeric: bool, bins: int) -> tuple[np.ndarray, list[str]]:
    """An integer group key per row (positions in the returned labels) and the group labels."""
    present = values.notna().to_numpy()
    keys = np.zeros(len(values), dtype="int64")
    labels: list[str] = []
    if present.any() and numeric:
        codes, labels = _quantile_bins(values[present].astype("float64"), bins)
        keys[present] = codes
    elif present.any():
        text = values[present].astype(str)
        labels = sorted(set(text))
        keys[present] = text.map({label: key for key, label in enumerate(labels)}).to_numpy()
    if not present.all():
        keys[~present] = len(labels)
        labels.append(MISSING_GROUP)
    return keys, labels


def _quantile_bins(values: pd.Series, bins: int) -> tuple[np.ndarray, list[str]]:
    codes, edges = pd.qcut(values, q=bins, labels=False, retbins=True, duplicates="drop")
    if len(edges) < 2:  # noqa: PLR2004 - a single distinct value leaves one edge and no bin
        only = _edge_texts(edges)[0]
        return np.zeros(len(values), dtype="int64"), [f"[{only}, {only}]"]
    text = _edge_texts(edges)
    # qcut bins are right-closed, except the first, which also holds the minimum.
    labels = [f"[{text[0]}, {text[1]}]"] + [f"({a}, {b}]" for a, b in pairwise(text[1:])]
    return codes.to_numpy(dtype="int64"), labels


def _edge_texts(edges: np.ndarray) -> list[str]:
    for decimals in range(_MIN_DECIMALS, _MAX_DECIMALS + 1):
        text = [f"{edge:.{decimals}f}" for edge in edges]
        if len(set(text)) == len(text):
            return text
    return [repr(float(edge)) for edge in edges]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _number(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"
