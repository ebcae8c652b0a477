from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from evaluation.metrics import class_probabilities, metrics_from_codes
from evaluation.resampling import metric_evaluator

BINARY = ["roc_auc", "accuracy", "log_loss"]


def _binary(n: int, *, decimals: int | None, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    truth = (rng.random(n) < 1 / (1 + np.exp(-1.5 * x))).astype("int64")
    scores = 1 / (1 + np.exp(-1.5 * x - rng.normal(0, 0.7, n)))
    return truth, scores if decimals is None else np.round(scores, decimals)


def _draws(n: int, count: int, size: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, n, size=size) for _ in range(count)]


@pytest.mark.parametrize("decimals", [None, 2, 1], ids=["distinct", "tied", "heavily-tied"])
def test_binary_metrics_of_a_draw_equal_sklearns_on_the_drawn_rows(decimals: int | None) -> None:
    truth, scores = _binary(3000, decimals=decimals)
    evaluate = metric_evaluator("binary", truth, scores, 2, BINARY)
    proba = class_probabilities("binary", scores)
    for rows in _draws(len(truth), 20, 2000):
        t, s = truth[rows], scores[rows]
        expected = [
            roc_auc_score(t, s),
            accuracy_score(t, proba[rows].argmax(axis=1)),
            log_loss(t, proba[rows], labels=[0, 1]),
        ]
        np.testing.assert_allclose(evaluate(rows), expected, rtol=0, atol=1e-12)


def test_binary_metrics_on_all_rows_equal_metrics_from_codes() -> None:
    truth, scores = _binary(5000, decimals=2, seed=3)
    point = metrics_from_codes("binary", truth, scores, 2, only=BINARY)
    everything = metric_evaluator("binary", truth, scores, 2, BINARY)(np.arange(len(truth)))
    np.testing.assert_allclose(everything, [point[m] for m in BINARY], rtol=0, atol=1e-12)


def test_roc_auc_of_a_one_class_draw_is_nan_like_metrics_from_codes_leaves_it_out() -> None:
    truth, scores = _binary(500, decimals=None)
    negatives = np.flatnonzero(truth == 0)[[0, 3, 3, 7, 9]]
    auc, accuracy, loss = metric_evaluator("binary", truth, scores, 2, BINARY)(negatives)
    expected = metrics_from_codes("binary", truth[negatives], scores[negatives], 2, only=BINARY)
    assert np.isnan(auc) and "roc_auc" not in expected
    assert (accuracy, loss) == pytest.approx(
        (expected["accuracy"], expected["log_loss"]), abs=1e-12
    )


def test_log_loss_clips_certain_scores_like_sklearn() -> None:
    truth = np.array([0, 1, 1, 0, 1, 0])
    scores = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 1e-20])  # two confidently wrong rows
    rows = np.array([0, 1, 2, 2, 3, 4, 5, 5])
    [loss] = metric_evaluator("binary", truth, scores, 2, ["log_loss"])(rows)
    proba = class_probabilities("binary", scores)
    assert np.isfinite(loss)
    assert loss == pytest.approx(log_loss(truth[rows], proba[rows], labels=[0, 1]), abs=1e-12)


def test_float32_scores_are_clipped_and_averaged_in_float32_like_sklearn() -> None:
    truth, scores = _binary(2000, decimals=None, seed=5)
    scores = scores.astype("float32")
    scores[:20] = 1.0  # clipped at 1 - float32 eps, far from float64's
    evaluate = metric_evaluator("binary", truth, scores, 2, BINARY)
    proba = class_probabilities("binary", scores)
    for rows in _draws(len(truth), 5, 2000):
        loss = log_loss(truth[rows], proba[rows], labels=[0, 1])
        auc = roc_auc_score(truth[rows], scores[rows])
        assert evaluate(rows)[[0, 2]] == pytest.approx([auc, loss], abs=1e-12)


def test_multiclass_accuracy_and_log_loss_of_a_draw_equal_sklearns() -> None:
    rng = np.random.default_rng(7)
    proba = rng.dirichlet(np.ones(3), size=1500)
    truth = rng.integers(0, 3, 1500)
    evaluate = metric_evaluator("multiclass", truth, proba, 3, ["log_loss", "accuracy"])
    for rows in _draws(len(truth), 10, 1500):
        expected = [
            log_loss(truth[rows], proba[rows], labels=[0, 1, 2]),
            accuracy_score(truth[rows], proba[rows].argmax(axis=1)),
        ]
        np.testing.assert_allclose(evaluate(rows), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("task", "names"),
    [("binary", ["f1", "roc_auc"]), ("multiclass", ["roc_auc"]), ("regression", ["rmse", "r2"])],
)
def test_other_metrics_are_metrics_from_codes_on_the_drawn_rows(task: str, names: list[str]):
    rng = np.random.default_rng(9)
    if task == "regression":
        truth, scores, n_classes = rng.normal(size=800), rng.normal(size=800), 0
    elif task == "multiclass":
        truth, scores, n_classes = rng.integers(0, 3, 800), rng.dirichlet(np.ones(3), 800), 3
    else:
        truth, scores, n_classes = rng.integers(0, 2, 800), rng.random(800), 2
    evaluate = metric_evaluator(task, truth, scores, n_classes, names)
    rows = _draws(800, 1, 800)[0]
    expected = metrics_from_codes(task, truth[rows], scores[rows], n_classes, only=names)
    np.testing.assert_allclose(evaluate(rows), [expected[m] for m in names], rtol=0, atol=1e-12)


def test_unknown_metric_of_a_draw_is_nan() -> None:
    truth, scores = _binary(100, decimals=None)
    assert np.isnan(metric_evaluator("binary", truth, scores, 2, ["mae"])(np.arange(100))).all()
