from __future__ import annotations

from pathlib import Path

import numpy as np

from factories import make_frame
from model_monitoring.drift import ModelScores, measure_drift, write_report

COMMON = {
    "numeric": ["x1", "x2"],
    "categorical": ["colour"],
    "target": "y",
    "numeric_method": "wasserstein",
    "categorical_method": "jensenshannon",
    "threshold": 0.1,
}


def test_no_drift_between_samples_of_the_same_distribution() -> None:
    summary, _ = measure_drift(make_frame(800, seed=1), make_frame(800, seed=2), **COMMON)
    assert summary.drifted_count == 0 and summary.drifted_share == 0.0
    assert {c.column for c in summary.columns} == {"x1", "x2", "colour"}
    assert summary.prediction is None and summary.realized == {}


def test_shifted_column_is_flagged_with_its_pinned_method(tmp_path: Path) -> None:
    summary, snapshot = measure_drift(
        make_frame(800, seed=1), make_frame(800, seed=2, shift=1.5), **COMMON
    )
    drifted = {c.column: c for c in summary.columns if c.drifted}
    assert set(drifted) == {"x1"}
    assert drifted["x1"].method == "wasserstein" and drifted["x1"].score > 0.5
    assert summary.drifted_share == 1 / 3
    report = write_report(snapshot, tmp_path / "monitor.html")
    assert report.stat().st_size > 10_000 and "<html" in report.read_text()[:2000].lower()


def test_prediction_drift_and_realized_metrics_with_a_production_model() -> None:
    ref, cur = make_frame(600, seed=1), make_frame(600, seed=2, shift=1.0)
    scores = ModelScores(
        reference=1 / (1 + np.exp(-2 * ref.x1)),
        current=1 / (1 + np.exp(-2 * cur.x1)),
        task="binary",
        classes=[0, 1],
    )
    summary, _ = measure_drift(ref, cur, scores=scores, **COMMON)
    assert summary.prediction is not None and summary.prediction.drifted
    assert 0.7 < summary.realized["roc_auc"] <= 1.0
    assert 0.0 < summary.realized["accuracy"] <= 1.0
    assert summary.as_metrics()["realized.roc_auc"] == summary.realized["roc_auc"]


def test_unlabelled_batch_has_prediction_drift_but_no_realized_metrics() -> None:
    ref, cur = make_frame(300, seed=1), make_frame(300, seed=2).drop(columns=["y"])
    scores = ModelScores(
        reference=np.full(300, 0.4), current=np.full(300, 0.4), task="binary", classes=[0, 1]
    )
    summary, _ = measure_drift(ref, cur, scores=scores, **COMMON)
    assert summary.prediction is not None and summary.realized == {}
