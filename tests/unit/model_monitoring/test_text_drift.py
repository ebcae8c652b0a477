from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factories import make_frame
from model_monitoring.drift import DriftTests, measure_drift, summarize_snapshot, write_report
from model_monitoring.measures import ColumnDrift
from model_monitoring.report import can_show_text
from model_monitoring.text_drift import CLASSIFIER, MIN_AUC, MIN_TEXTS, measure_text_drift

# Vocabularies, space-separated.
COMMON = (
    "the a and of to is it this was for with but not very my on in so at one they have had be "
    "are you too just all would will like really good great bad okay love hate fine best worst"
)
FOOD = (
    "taste flavor coffee tea sweet salty bitter fresh stale crunchy chewy sauce spicy bland "
    "rich creamy snack chocolate cookie bread cheese fruit organic price package bag box order "
    "delivery brand product quality smell texture"
)
GADGETS = (
    "battery screen charger cable laptop phone keyboard mouse software update bluetooth wifi "
    "speaker camera pixel driver firmware port usb memory"
)
# Python's own reference pages (the stdlib's `pydoc_data`): real English, offline everywhere.
NEW_TOPICS = {"string-methods", "formatstrings", "strings", "typesseq", "typesseq-mutable"}
NEW_TOPICS |= {"numeric-types", "floating", "integers", "imaginary", "numbers"}

# Evidently's own text classifier (SGD, 50 iterations) in the report rarely converges.
EVIDENTLY_SGD = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _zipf(vocabulary: str, size: int, rng: np.random.Generator) -> np.ndarray:
    words = vocabulary.split()
    weights = 1 / np.arange(1, len(words) + 1)
    return rng.choice(words, size, p=weights / weights.sum())


def reviews(n: int, seed: int, *, gadgets: float = 0.0) -> pd.Series:
    """Short food reviews; `gadgets` of their topic words are about electronics instead."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 15, n)
    total = int(lengths.sum())
    topical = rng.random(total) < 0.45
    words = np.where(topical, _zipf(FOOD, total, rng), _zipf(COMMON, total, rng))
    swapped = topical & (rng.random(total) < gadgets)
    words[swapped] = _zipf(GADGETS, int(swapped.sum()), rng)
    return pd.Series([" ".join(w) for w in np.split(words, np.cumsum(lengths)[:-1])], name="r")


@pytest.fixture(scope="module")
def docs() -> tuple[list[str], list[str]]:
    """Sentences of the Python reference: most topics, and ten about strings and numbers."""
    topics = pytest.importorskip("pydoc_data.topics").topics

    def sentences(names: set[str]) -> list[str]:
        text = (" ".join(topics[k].split()) for k in sorted(names))
        found = (s.strip() for t in text for s in re.split(r"(?<=[.!?])\s+", t))
        return [s for s in found if 20 < len(s) < 300]

    return sentences(set(topics) - NEW_TOPICS), sentences(NEW_TOPICS)


def draw(docs: tuple[list[str], list[str]], n: int, seed: int, new: float = 0.0) -> pd.Series:
    rng = np.random.default_rng(seed)
    fresh = rng.binomial(n, new)
    texts = [*rng.choice(docs[0], n - fresh), *rng.choice(docs[1], fresh)]
    return pd.Series(rng.permutation(texts), name="r")


def text_drift(reference: pd.Series, current: pd.Series) -> ColumnDrift:
    return measure_text_drift(
        reference.rename("r"), current, categorical_method="jensenshannon", threshold=0.1
    )


def flagged(drift: ColumnDrift, alpha: float = 0.05) -> bool:
    """The verdict on a lone column: drifted, and significant (BH on one test is the test)."""
    return drift.drifted and drift.p_value is not None and drift.p_value < alpha


def test_samples_of_unchanged_real_text_are_not_flagged_in_20_seeded_runs(docs) -> None:
    runs = [text_drift(draw(docs, 300, 2 * s), draw(docs, 300, 2 * s + 1)) for s in range(20)]
    assert {r.method for r in runs} == {CLASSIFIER}
    assert [r for r in runs if flagged(r)] == []
    assert max(r.score for r in runs) < MIN_AUC
    assert 0.45 < np.mean([r.score for r in runs]) < 0.55


def test_samples_of_unchanged_generated_reviews_are_not_flagged_in_20_seeded_runs() -> None:
    runs = [text_drift(reviews(300, 2 * s), reviews(300, 2 * s + 1)) for s in range(20)]
    assert [r for r in runs if flagged(r)] == []
    assert all(r.method == CLASSIFIER and r.p_value is not None for r in runs)


def test_identical_samples_are_not_flagged(docs) -> None:
    texts = draw(docs, 400, 1)
    same = text_drift(texts, texts.copy())
    assert same.method == CLASSIFIER and not same.drifted
    assert same.score <= 0.5 and same.p_value is not None and same.p_value > 0.5


@EVIDENTLY_SGD
def test_a_batch_identical_to_its_reference_has_no_drift_in_the_summary(docs) -> None:
    frame = make_frame(300, seed=1).assign(review=draw(docs, 300, 1).to_numpy())
    columns = {"numeric": ["x1"], "text": ["review"]}
    summary, _ = measure_drift(
        frame, frame.copy(), columns=columns, target="y", tests=DriftTests(), watch=()
    )
    [review] = [c for c in summary.columns if c.column == "review"]
    assert review.method == CLASSIFIER and not review.drifted and not review.significant
    assert summary.corrected_count == 0 and not summary.drift_detected


def test_a_batch_on_new_topics_is_flagged_in_every_seeded_run(docs) -> None:
    runs = [
        text_drift(draw(docs, 300, 2 * s), draw(docs, 300, 2 * s + 1, new=1.0)) for s in range(5)
    ]
    assert all(flagged(r) for r in runs)
    assert min(r.score for r in runs) > 0.75 and max(r.p_value or 1 for r in runs) < 1e-10


def test_a_vocabulary_shift_in_short_reviews_is_flagged() -> None:
    shifted = text_drift(reviews(300, 1), reviews(300, 2, gadgets=0.5))
    assert flagged(shifted) and shifted.score > 0.8


def test_a_trivial_difference_in_a_big_sample_is_significant_but_not_drift() -> None:
    # 5% of topic words swapped, 5,000 texts a side: the p-value is tiny, the effect is not.
    slight = text_drift(reviews(5000, 1), reviews(5000, 2, gadgets=0.05))
    assert slight.p_value is not None and slight.p_value < 1e-4
    assert 0.5 < slight.score < MIN_AUC and not slight.drifted


def _repeat(values: list, n: int = 300) -> pd.Series:
    return pd.Series((values * n)[:n], dtype="object")


@pytest.mark.parametrize(
    ("reference", "current", "method"),
    [
        (_repeat(["great product"]), _repeat(["great product"]), "over 1 distinct text"),
        (_repeat(["good", "bad", "ok"]), _repeat(["ok", "good", "bad"]), "over 3 distinct texts"),
        (_repeat([""]), _repeat([""]), "over 1 distinct text"),
        (_repeat([" ", "!!!", "...", "?"]), _repeat(["?", "...", "!!!", " "]), "4 distinct texts"),
        (_repeat(["fine"], 5), _repeat(["fine"], 5), "not tested: too little text (5 reference"),
        (_repeat([np.nan]), _repeat([np.nan]), "not tested: too little text (0 reference"),
        (
            _repeat(["ok", np.nan, np.nan]),
            _repeat([np.nan, np.nan, np.nan, "ok"], 30),
            "not tested",
        ),
    ],
    ids=["identical", "three-words", "empty", "punctuation", "five-rows", "all-nan", "mostly-nan"],
)
def test_a_column_with_too_little_text_falls_back_and_says_so(reference, current, method) -> None:
    drift = text_drift(reference, current)
    assert drift.kind == "text" and method in drift.method and not drift.drifted
    if drift.method.startswith("not tested"):
        assert drift.p_value is None and f"under {MIN_TEXTS} a side" in drift.method
    else:
        assert "too few for a classifier" in drift.method and drift.p_value is not None


def test_a_three_word_vocabulary_gets_the_classifier_and_no_crash() -> None:
    rng = np.random.default_rng(0)
    ref, cur = ([" ".join(rng.choice(["good", "bad", "ok"], 8)) for _ in range(300)] for _ in "rc")
    drift = text_drift(pd.Series(ref), pd.Series(cur))
    assert drift.method == CLASSIFIER and not drift.drifted
    assert not can_show_text(pd.Series(ref), pd.Series(cur))  # Evidently's vocabulary is empty


def test_a_shift_between_a_few_labels_is_flagged_by_the_category_fallback() -> None:
    drift = text_drift(_repeat(["good", "bad"]), _repeat(["good"] * 9 + ["bad"]))
    assert drift.method.startswith("jensenshannon over 2 distinct texts")
    assert flagged(drift) and drift.score > drift.threshold


def test_a_side_of_one_repeated_text_is_tested_as_categories() -> None:
    drift = text_drift(reviews(300, 1), _repeat(["n/a"]))
    assert "too repetitive to split" in drift.method and flagged(drift)


def _report(columns: list[str]) -> dict:
    metrics = [
        {
            "id": f"d-{c}",
            "value": 0.5,
            "config": {
                "type": "evidently:metric_v2:ValueDrift",
                "column": c,
                "method": "wasserstein",
                "threshold": 0.1,
            },
        }
        for c in columns
    ]
    return {
        "metrics": metrics,
        "tests": [{"metric_config": {"metric_id": f"d-{c}"}, "status": "FAIL"} for c in columns],
    }


@pytest.mark.parametrize(("text_p", "significant"), [(0.04, False), (0.001, True)])
def test_text_p_values_are_corrected_with_the_other_columns(text_p, significant) -> None:
    # Five tests: BH turns 0.04 into 0.2 (not significant) and 0.001 into 0.005.
    text = ColumnDrift("review", "text", CLASSIFIER, 0.7, MIN_AUC, True, text_p)
    summary = summarize_snapshot(
        _report(list("abcd")),
        columns={"numeric": list("abcd"), "text": ["review"]},
        tests=DriftTests(),
        rows=(300, 300),
        p_values=dict.fromkeys("abcd", 0.9),
        text={"review": text},
    )
    [review] = [c for c in summary.columns if c.column == "review"]
    assert review.p_value == text_p and review.significant is significant
    assert summary.corrected_count == int(significant) and summary.drifted_count == 5


def test_a_text_column_not_tested_is_never_significant() -> None:
    untested = ColumnDrift("review", "text", "not tested: too little text", 0.5, MIN_AUC, False)
    summary = summarize_snapshot(
        _report(["a"]),
        columns={"numeric": ["a"], "text": ["review"]},
        tests=DriftTests(),
        rows=(5, 5),
        p_values={"a": 0.9},
        text={"review": untested},
    )
    assert [(c.column, c.significant, c.p_value) for c in summary.columns] == [
        ("a", False, 0.9),
        ("review", False, None),
    ]


@EVIDENTLY_SGD
def test_awkward_text_columns_are_measured_and_reported_offline(
    docs, tmp_path: Path, monkeypatch
) -> None:
    nltk = pytest.importorskip("nltk")

    def no_download(*args, **kwargs):
        raise AssertionError("nltk data was asked for")

    monkeypatch.setattr(nltk, "download", no_download)
    rng = np.random.default_rng(0)

    def frame(seed: int, new: float) -> pd.DataFrame:
        few = [" ".join(rng.choice(["good", "bad", "ok"], 6)) for _ in range(300)]
        return make_frame(300, seed=seed).assign(
            review=draw(docs, 300, seed, new=new).to_numpy(), few=few, empty="", gone=np.nan
        )

    columns = {
        "numeric": ["x1"],
        "categorical": ["colour"],
        "text": ["review", "few", "empty", "gone"],
    }
    summary, snapshot = measure_drift(
        frame(1, 0.0), frame(2, 1.0), columns=columns, target="y", tests=DriftTests(), watch=()
    )
    by_name = {c.column: c for c in summary.columns}
    assert list(by_name) == ["x1", "colour", "review", "few", "empty", "gone"]
    assert by_name["review"].significant and by_name["review"].method == CLASSIFIER
    assert not any(by_name[c].significant for c in ("few", "empty", "gone"))
    assert by_name["gone"].method.startswith("not tested")
    shown = {m["config"].get("column") for m in snapshot.dict()["metrics"]}
    assert "review" in shown and not shown & {"few", "empty", "gone"}
    page = write_report(snapshot, tmp_path / "monitor.html").read_text()
    assert "review" in page


def test_evidently_shows_only_the_text_it_can_read(docs) -> None:
    texts = draw(docs, 200, 1)
    assert can_show_text(texts, draw(docs, 200, 2))
    assert not can_show_text(texts, pd.Series([np.nan] * 200))
    assert not can_show_text(_repeat([""]), _repeat([""]))
    assert not can_show_text(_repeat(["the", "and", "of"]), _repeat(["of", "the"]))  # stop words
    assert not can_show_text(pd.Series([1.5, 2.5] * 50), pd.Series([3.5] * 100))


def test_ids_with_no_shared_n_gram_are_not_drift() -> None:
    ids = [f"{i:08x}{(i * 7919) % 65521:05x}" for i in range(600)]
    drift = text_drift(pd.Series(ids[:300]), pd.Series(ids[300:]))
    assert drift.method == CLASSIFIER and drift.score == 0.5 and drift.p_value == 1.0


_CELLS = st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["ok", "good", "", " "]))


@settings(max_examples=60, deadline=None)
@given(reference=st.lists(_CELLS, max_size=80), current=st.lists(_CELLS, max_size=80))
def test_any_text_column_is_measured_without_raising(reference, current) -> None:
    ref, cur = pd.Series(reference, dtype="object"), pd.Series(current, dtype="object")
    drift = text_drift(ref, cur)
    assert drift.kind == "text" and 0.0 <= drift.score <= 1.0
    assert drift.p_value is None or 0.0 <= drift.p_value <= 1.0
    assert isinstance(can_show_text(ref, cur), bool)
