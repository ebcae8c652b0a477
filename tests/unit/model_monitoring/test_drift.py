from __future__ import annotations

import itertools
from pathlib import Path
from typing import get_args

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from config.settings import CategoricalMethod, NumericMethod
from factories import make_frame
from model_monitoring import drift
from model_monitoring.drift import (
    DriftTests,
    ModelScores,
    measure_drift,
    summarize_snapshot,
    write_report,
)
from model_monitoring.errors import ReportLayoutError
from model_monitoring.report import sample_positions, sample_rows, script_safe_page

COLUMNS = {"numeric": ["x1", "x2"], "categorical": ["colour"]}


def measure(ref, cur, **kwargs):
    return measure_drift(
        ref,
        cur,
        columns=kwargs.pop("columns", COLUMNS),
        target="y",
        tests=kwargs.pop("tests", DriftTests()),
        watch=kwargs.pop("watch", ("roc_auc", "accuracy")),
        **kwargs,
    )


def scores_for(ref: pd.DataFrame, cur: pd.DataFrame, **kwargs) -> ModelScores:
    return ModelScores(
        reference=1 / (1 + np.exp(-2 * ref.x1)),
        current=1 / (1 + np.exp(-2 * cur.x1)),
        task="binary",
        classes=[0, 1],
        **kwargs,
    )


def test_no_drift_between_samples_of_the_same_distribution() -> None:
    summary, _ = measure(make_frame(800, seed=1), make_frame(800, seed=2))
    assert summary.corrected_count == 0 and not summary.drift_detected
    assert {c.column for c in summary.columns} == {"x1", "x2", "colour"}
    assert all(c.p_value is not None for c in summary.columns)
    assert summary.prediction is None and summary.realized == {}


def test_shifted_column_is_flagged_by_distance_and_by_corrected_test(tmp_path: Path) -> None:
    summary, snapshot = measure(make_frame(800, seed=1), make_frame(800, seed=2, shift=1.5))
    flagged = {c.column: c for c in summary.columns if c.significant}
    assert set(flagged) == {"x1"}
    assert flagged["x1"].method == "wasserstein" and flagged["x1"].score > 0.5
    assert flagged["x1"].p_value < 1e-6
    assert summary.drifted_share == summary.corrected_share == 1 / 3
    assert not summary.drift_detected  # 1 of 3 is under the 0.5 share that counts as drift
    report = write_report(snapshot, tmp_path / "monitor.html")
    assert report.stat().st_size > 10_000 and "<html" in report.read_text()[:2000].lower()


def test_a_page_without_evidently_inline_data_is_refused() -> None:
    with pytest.raises(ReportLayoutError, match="no inline data block"):
        script_safe_page("<html><script>var x = {};</script></html>")


def test_correction_keeps_large_but_insignificant_distances_out() -> None:
    # 30 rows: distances are noisy and can pass 0.1, but the corrected tests do not fire.
    summary, _ = measure(make_frame(30, seed=1), make_frame(30, seed=2))
    assert summary.corrected_count <= summary.drifted_count
    assert summary.corrected_count == 0


def test_text_columns_get_a_held_out_classifier_corrected_with_the_others() -> None:
    rng = np.random.default_rng(0)
    words = np.array(
        ["good", "bad", "great", "awful", "tasty", "bland", "fresh", "stale", "cheap", "pricey"]
    )

    def texts(n: int, p: np.ndarray) -> list[str]:
        return [" ".join(rng.choice(words, 8, p=p)) for _ in range(n)]

    ref = make_frame(600, seed=1).assign(review=texts(600, np.ones(10) / 10))
    skewed = np.r_[np.full(5, 0.18), np.full(5, 0.02)]
    cur = make_frame(600, seed=2).assign(review=texts(600, skewed))
    summary, _ = measure(ref, cur, columns={**COLUMNS, "text": ["review"]})
    [review] = [c for c in summary.columns if c.column == "review"]
    assert review.kind == "text" and review.method == "domain classifier ROC AUC"
    assert review.score > 0.6 and review.p_value < 1e-6 and review.significant


def test_realized_metrics_come_with_a_bootstrap_interval() -> None:
    ref, cur = make_frame(600, seed=1), make_frame(600, seed=2, shift=1.0)
    summary, _ = measure(ref, cur, scores=scores_for(ref, cur))
    assert summary.prediction is not None and summary.prediction.drifted
    low, high = summary.realized_interval["roc_auc"]
    assert low < summary.realized["roc_auc"] < high and high - low < 0.1
    assert summary.as_metrics()["realized.roc_auc.low"] == low


def test_realized_metrics_of_a_sampled_batch_use_every_row_given_for_health() -> None:
    ref, whole = make_frame(600, seed=1), make_frame(3000, seed=2, shift=1.0)
    every = scores_for(ref, whole)
    sampled = whole.iloc[::10].reset_index(drop=True)
    on_sample = ModelScores(every.reference, every.current[::10].to_numpy(), "binary", [0, 1])
    summary, _ = measure(ref, sampled, scores=on_sample, health=(whole[["y"]], every))
    expected = roc_auc_score(whole.y, every.current)
    assert summary.realized["roc_auc"] == pytest.approx(expected)
    assert summary.current_rows == 3000


def test_unlabelled_batch_gets_an_estimate_not_realized_metrics() -> None:
    ref, cur = make_frame(300, seed=1), make_frame(300, seed=2).drop(columns=["y"])
    identity = {"x": [0.0, 1.0], "y": [0.0, 1.0]}
    summary, _ = measure(ref, cur, scores=scores_for(ref, cur, calibration=identity))
    assert summary.realized == {} and summary.prediction is not None
    assert 0.5 < summary.estimated["accuracy"] <= 1.0 and 0.5 < summary.estimated["roc_auc"] <= 1.0


def _report(distances: dict[str, float]) -> dict:
    metrics, tests = [], []
    for column, score in distances.items():
        metric_id = f"d-{column}"
        metrics.append(
            {
                "id": metric_id,
                "value": score,
                "config": {
                    "type": "evidently:metric_v2:ValueDrift",
                    "column": column,
                    "method": "wasserstein",
                    "threshold": 0.1,
                },
            }
        )
        tests.append(
            {
                "metric_config": {"metric_id": metric_id},
                "status": "FAIL" if score >= 0.1 else "SUCCESS",
            }
        )
    return {"metrics": metrics, "tests": tests}


def test_benjamini_hochberg_keeps_only_discoveries_that_survive_correction() -> None:
    # Raw p-values 0.001, 0.04, 0.3 over three tests: BH-adjusted 0.003, 0.06, 0.3.
    report = _report({"a": 0.5, "b": 0.5, "c": 0.5})
    summary = summarize_snapshot(
        report,
        columns={"numeric": ["a", "b", "c"]},
        tests=DriftTests(share_threshold=0.5),
        rows=(100, 100),
        p_values={"a": 0.001, "b": 0.04, "c": 0.3},
    )
    assert summary.drifted_share == 1.0  # every distance is over its threshold
    assert [c.column for c in summary.columns if c.significant] == ["a"]
    assert summary.corrected_share == 1 / 3 and not summary.drift_detected


def test_uncorrected_p_value_below_alpha_is_not_enough() -> None:
    # 0.04 < alpha alone, but not among 5 tests: BH-adjusted it is 0.2.
    report = _report({c: 0.5 for c in "abcde"})
    summary = summarize_snapshot(
        report,
        columns={"numeric": list("abcde")},
        tests=DriftTests(),
        rows=(100, 100),
        p_values={c: 0.04 if c == "a" else 0.9 for c in "abcde"},
    )
    assert summary.corrected_count == 0 and summary.drifted_count == 5


def test_big_frames_are_tested_on_a_sample_and_counted_in_full(monkeypatch) -> None:
    seen: list[int] = []
    from_pandas = drift.Dataset.from_pandas

    def recording(data, **kwargs):
        seen.append(len(data))
        return from_pandas(data, **kwargs)

    monkeypatch.setattr(drift.Dataset, "from_pandas", recording)
    ref, cur = make_frame(6000, seed=1), make_frame(6000, seed=2, shift=0.3)
    summary, _ = measure(ref, cur, tests=DriftTests(sample_rows=1000), scores=scores_for(ref, cur))
    assert (summary.reference_rows, summary.current_rows) == (6000, 6000)
    assert {c.column for c in summary.columns if c.significant} == {"x1"}
    assert summary.prediction is not None and summary.prediction.drifted
    # The model's realized metrics use every labelled row, not the sample.
    assert summary.realized["roc_auc"] == pytest.approx(
        roc_auc_score(cur.y, 1 / (1 + np.exp(-2 * cur.x1)))
    )
    assert seen == [1000, 1000]


def test_sample_positions_are_sorted_distinct_and_repeatable() -> None:
    picked = sample_positions(10_000, 500)
    assert picked is not None and len(np.unique(picked)) == 500
    assert np.all(np.diff(picked) > 0)
    assert np.array_equal(picked, sample_positions(10_000, 500))
    assert sample_positions(400, 500) is None and sample_positions(10_000, 0) is None


def test_a_reference_sampled_beforehand_is_tested_as_is_and_counted_in_full() -> None:
    ref, cur = make_frame(6000, seed=1), make_frame(6000, seed=2)
    tested = sample_rows(ref, 1000)
    assert len(tested) == 1000 and sample_rows(tested, 1000) is tested
    ahead, _ = measure(ref, cur, tests=DriftTests(sample_rows=1000))
    sampled, _ = measure(tested, cur, tests=DriftTests(sample_rows=1000), reference_rows=6000)
    assert sampled.reference_rows == 6000
    assert [c.score for c in sampled.columns] == [c.score for c in ahead.columns]


@pytest.mark.parametrize(
    ("numeric", "categorical"),
    list(
        itertools.zip_longest(
            get_args(NumericMethod), get_args(CategoricalMethod), fillvalue="jensenshannon"
        )
    ),
)
def test_every_method_the_settings_accept_tests_every_column(numeric, categorical) -> None:
    ref, cur = make_frame(600, seed=1), make_frame(600, seed=2, shift=1.0)
    tests = DriftTests(numeric_method=numeric, categorical_method=categorical)
    summary, _ = measure(ref, cur, tests=tests)
    assert [(c.column, c.method) for c in summary.columns] == [
        ("x1", numeric),
        ("x2", numeric),
        ("colour", categorical),
    ]
    assert {c.column: c.drifted for c in summary.columns}["x1"]  # a 1 sd shift


def _multiclass(frame: pd.DataFrame, classes: list[str], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(len(classes)), size=len(frame))


@pytest.mark.parametrize(
    ("classes", "keep"),
    [
        (["fog", "rain", "snow", "sun"], ["fog", "rain", "sun"]),  # no snow in summer
        (["fog", "sun"], ["fog", "rain", "sun"]),  # a label the model never saw
        (["fog", "sun"], ["fog", "sun"]),  # a two-class multiclass model
    ],
)
def test_multiclass_batches_without_every_class_are_measured(classes, keep) -> None:
    # Evidently's per-class metrics raise on these; driftloop measures them itself.
    rng = np.random.default_rng(3)
    ref, cur = make_frame(300, seed=1), make_frame(300, seed=2)
    ref["y"] = rng.choice(classes, size=len(ref))
    cur["y"] = rng.choice(keep, size=len(cur))
    scores = ModelScores(
        reference=_multiclass(ref, classes, 1),
        current=_multiclass(cur, classes, 2),
        task="multiclass",
        classes=classes,
    )
    summary, _ = measure(ref, cur, scores=scores, watch=("accuracy",))
    hits = np.asarray(classes)[scores.current.argmax(axis=1)] == cur["y"].to_numpy()
    assert summary.realized["accuracy"] == pytest.approx(hits.mean())
