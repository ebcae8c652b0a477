from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.metrics import compute_metrics
from evaluation.slices import (
    SliceReport,
    compare_slices,
    render_slice_table,
    slice_regressions,
)
from factories import make_frame

BINARY = {"target": "y", "task": "binary", "classes": [0, 1], "metric": "roc_auc"}


def binary_holdout(rows: int = 1200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A holdout with three regions and the true P(y=1) of each row."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, rows)
    region = rng.choice(["north", "south", "west"], rows, p=[0.45, 0.45, 0.1])
    proba = 1 / (1 + np.exp(-2.5 * x))
    y = (rng.random(rows) < proba).astype("int64")
    return pd.DataFrame({"x": x, "region": region, "y": y}), proba


def by_group(report: SliceReport) -> dict[str, object]:
    return {row.label: row for row in report.rows}


def test_challenger_better_overall_but_worse_on_one_region_is_flagged() -> None:
    holdout, proba = binary_holdout()
    rng = np.random.default_rng(1)
    champion = np.clip(proba + rng.normal(0, 0.3, len(proba)), 0, 1)
    west = (holdout.region == "west").to_numpy()
    challenger = np.where(west, rng.random(len(proba)), proba)
    overall = [
        compute_metrics("binary", holdout.y, s, [0, 1])["roc_auc"] for s in (challenger, champion)
    ]
    assert overall[0] > overall[1]

    report = compare_slices(
        holdout,
        columns=["region"],
        numeric_columns=[],
        bins=4,
        challenger_scores=challenger,
        champion_scores=champion,
        **BINARY,
    )

    messages = slice_regressions(report)
    assert len(messages) == 1
    assert messages[0].startswith("region west: roc_auc 0.")
    assert f"over {west.sum()} rows, tolerance 0.02" in messages[0]
    assert [row.group for row in report.rows] == ["north", "south", "west"]
    assert all(row.judged for row in report.rows)


def test_noise_level_difference_within_tolerance_is_not_flagged() -> None:
    holdout, proba = binary_holdout()
    jitter = np.random.default_rng(2).normal(0, 0.01, len(proba))
    report = compare_slices(
        holdout,
        columns=["region", "x"],
        numeric_columns=["x"],
        bins=4,
        challenger_scores=np.clip(proba + jitter, 0, 1),
        champion_scores=proba,
        **BINARY,
    )
    assert slice_regressions(report) == ()
    assert all(row.gain is not None and abs(row.gain) < 0.02 for row in report.rows)


def test_small_group_is_shown_but_not_judged() -> None:
    holdout, proba = binary_holdout(rows=600)
    holdout.loc[holdout.index[:20], "region"] = "island"
    challenger = proba.copy()
    challenger[:20] = 1 - proba[:20]  # hopeless on the island
    report = compare_slices(
        holdout,
        columns=["region"],
        numeric_columns=[],
        bins=4,
        challenger_scores=challenger,
        champion_scores=proba,
        **BINARY,
    )
    island = by_group(report)["region island"]
    assert island.rows == 20 and not island.judged and island.gain < -0.5
    assert slice_regressions(report) == ()


def test_metric_undefined_on_a_single_class_group_is_missing() -> None:
    holdout, proba = binary_holdout(rows=300)
    holdout["kind"] = np.where(holdout.y == 1, "wet", "dry")
    holdout.loc[holdout.index[:40], "kind"] = "mixed"
    report = compare_slices(
        holdout,
        columns=["kind"],
        numeric_columns=[],
        bins=4,
        min_rows=10,
        challenger_scores=1 - proba,
        champion_scores=proba,
        **BINARY,
    )
    rows = by_group(report)
    assert rows["kind wet"].challenger is None and rows["kind wet"].gain is None
    assert rows["kind dry"].champion is None
    assert rows["kind mixed"].challenger is not None
    (message,) = slice_regressions(report)
    assert message.startswith("kind mixed: roc_auc")


def test_without_a_champion_only_the_challenger_is_measured() -> None:
    frame = make_frame(400)
    report = compare_slices(
        frame,
        columns=["colour"],
        numeric_columns=[],
        bins=4,
        target="y",
        task="binary",
        classes=[0, 1],
        metric="accuracy",
        challenger_scores=np.full(len(frame), 0.6),
    )
    assert [row.group for row in report.rows] == ["blue", "green", "red"]
    assert all(row.challenger is not None for row in report.rows)
    assert all(row.champion is None and row.gain is None for row in report.rows)
    assert slice_regressions(report) == ()
    assert "n/a" in render_slice_table(report)


def test_numeric_column_is_cut_into_quantile_bins_with_a_missing_group() -> None:
    values = [float(v) for v in range(100)] + [None] * 7
    holdout = pd.DataFrame({"temperature": values, "y": [0, 1] * 53 + [0]})
    report = compare_slices(
        holdout,
        columns=["temperature"],
        numeric_columns=["temperature"],
        bins=4,
        challenger_scores=np.linspace(0, 1, len(holdout)),
        **BINARY,
    )
    assert [row.label for row in report.rows] == [
        "temperature [0.00, 24.75]",
        "temperature (24.75, 49.50]",
        "temperature (49.50, 74.25]",
        "temperature (74.25, 99.00]",
        "temperature missing",
    ]
    assert [row.rows for row in report.rows] == [25, 25, 25, 25, 7]


def test_repeated_values_drop_duplicate_bin_edges_and_keep_labels_distinct() -> None:
    values = [0.0] * 60 + [0.001, 0.002, 0.003, 0.004] * 10
    holdout = pd.DataFrame({"rain_mm": values, "y": [0, 1] * 50})
    report = compare_slices(
        holdout,
        columns=["rain_mm"],
        numeric_columns=["rain_mm"],
        bins=4,
        challenger_scores=np.full(100, 0.5),
        **BINARY,
    )
    assert [(row.group, row.rows) for row in report.rows] == [
        ("[0.000, 0.002]", 80),
        ("(0.002, 0.004]", 20),
    ]


def test_multiclass_probabilities_are_sliced_row_by_row() -> None:
    rng = np.random.default_rng(3)
    rows = 600
    y = pd.Series(rng.choice(["sun", "rain", "snow"], rows))
    classes = ["rain", "snow", "sun"]
    proba = rng.dirichlet([1, 1, 1], rows)
    codes = y.map({c: i for i, c in enumerate(classes)}).to_numpy()
    proba[np.arange(rows) < 300, codes[:300]] += 1.0  # right only on the first half
    proba /= proba.sum(axis=1, keepdims=True)
    holdout = pd.DataFrame({"half": np.where(np.arange(rows) < 300, "first", "second"), "y": y})

    for metric in ("accuracy", "log_loss"):
        report = compare_slices(
            holdout,
            columns=["half"],
            numeric_columns=[],
            bins=4,
            target="y",
            task="multiclass",
            classes=classes,
            metric=metric,
            challenger_scores=proba,
        )
        for row in report.rows:
            mask = (holdout.half == row.group).to_numpy()
            expected = compute_metrics("multiclass", y[mask], proba[mask], classes, only=metric)
            assert row.challenger == pytest.approx(expected[metric])
    assert by_group(report)["half first"].challenger < by_group(report)["half second"].challenger


def test_regression_error_that_grows_on_one_group_is_a_regression() -> None:
    rng = np.random.default_rng(4)
    rows = 400
    y = rng.normal(10, 3, rows)
    site = np.where(np.arange(rows) % 2 == 0, "a", "b")
    champion = y + rng.normal(0, 1.0, rows)
    challenger = y + np.where(site == "a", rng.normal(0, 0.5, rows), rng.normal(0, 1.5, rows))
    report = compare_slices(
        pd.DataFrame({"site": site, "y": y}),
        columns=["site"],
        numeric_columns=[],
        bins=4,
        target="y",
        task="regression",
        classes=[],
        metric="rmse",
        challenger_scores=challenger,
        champion_scores=champion,
    )
    rows_ = by_group(report)
    assert rows_["site a"].gain > 0 > rows_["site b"].gain
    (message,) = slice_regressions(report)
    assert message.startswith("site b: rmse 1.") and "over 200 rows" in message


def test_table_has_a_header_and_one_line_per_group() -> None:
    holdout, proba = binary_holdout(rows=200)
    holdout.loc[holdout.index[:5], "region"] = "a|b"
    report = compare_slices(
        holdout,
        columns=["region"],
        numeric_columns=[],
        bins=4,
        challenger_scores=proba,
        champion_scores=proba,
        **BINARY,
    )
    lines = render_slice_table(report).splitlines()
    assert lines[0].startswith("| column | group | rows | challenger roc_auc")
    assert len(lines) == 2 + len(report.rows)
    assert "| region | a\\|b | 5 |" in lines[2]
    assert lines[2].endswith("| no (< 30 rows) |")
    assert lines[3].startswith("| region | north |") and lines[3].endswith("| +0.000 | yes |")


def test_unknown_metric_and_misaligned_scores_are_errors() -> None:
    holdout, proba = binary_holdout(rows=50)
    common = {"columns": ["region"], "numeric_columns": [], "bins": 4, "target": "y"}
    with pytest.raises(ValueError, match="metric 'auc' is unknown"):
        compare_slices(
            holdout, task="binary", classes=[0, 1], metric="auc", challenger_scores=proba, **common
        )
    with pytest.raises(ValueError, match="champion scores have 49 values for 50 holdout rows"):
        compare_slices(
            holdout,
            task="binary",
            classes=[0, 1],
            metric="roc_auc",
            challenger_scores=proba,
            champion_scores=proba[1:],
            **common,
        )


def test_empty_holdout_has_no_groups() -> None:
    holdout = pd.DataFrame({"region": pd.Series([], dtype=str), "y": pd.Series([], dtype=int)})
    report = compare_slices(
        holdout,
        columns=["region"],
        numeric_columns=[],
        bins=4,
        challenger_scores=np.array([]),
        champion_scores=np.array([]),
        **BINARY,
    )
    assert report.rows == () and slice_regressions(report) == ()
