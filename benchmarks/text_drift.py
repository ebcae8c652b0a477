"""Benchmark: text drift tests on unchanged and shifted text, their false alarms, power and cost.

Compares driftloop's test (`measure_text_drift`: a held-out domain classifier's ROC AUC with an
exact Mann-Whitney p-value, drifted at p < 0.05 and AUC >= 0.6), the same test with character
3-5-grams added to the words, and Evidently's own text drift as driftloop called it before
(percentile rule at the 0.1 threshold every column got; on unchanged text only, as it costs
seconds a call) and at its absolute default (AUC > 0.55). Two sources: sentences of Python's
reference pages (the stdlib's `pydoc_data`, real English) with a share of the batch drawn from
ten held-out topics, and generated food reviews with a share of their topic words about
electronics. Seeded runs of `--sizes` texts a side; writes `text-drift-results.csv` beside
itself. Run by hand from the repository root:

    OMP_WAIT_POLICY=PASSIVE uv run python benchmarks/text_drift.py [--runs 20] [--sizes 300 2000]
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from pathlib import Path
from pydoc_data.topics import topics

import numpy as np
import pandas as pd
from evidently.legacy.utils.data_drift_utils import calculate_text_drift_score
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.pipeline import FeatureUnion

from model_monitoring import text_drift

NEW_TOPICS = {"string-methods", "formatstrings", "strings", "typesseq", "typesseq-mutable"}
NEW_TOPICS |= {"numeric-types", "floating", "integers", "imaginary", "numbers"}
COMMON = "the a and of to is it this was for with but not very my on in so at one they have had"
COMMON += " be are you too just all would will like really good great bad okay love hate fine"
FOOD = "taste flavor coffee tea sweet salty bitter fresh stale crunchy chewy sauce spicy bland"
FOOD += " rich creamy snack chocolate cookie bread cheese fruit organic price package bag box"
GADGETS = "battery screen charger cable laptop phone keyboard mouse software update bluetooth"
GADGETS += " wifi speaker camera pixel driver firmware port usb memory"
SHIFTS = {"python docs": (0.0, 0.2, 0.5, 1.0), "reviews": (0.0, 0.05, 0.2, 0.5)}
WITH_CHARS = FeatureUnion(
    [
        ("words", text_drift._NGRAMS),
        ("chars", HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), alternate_sign=False)),
    ]
)


def sentences(names: set[str]) -> list[str]:
    """The sentences of the reference pages named."""
    text = (" ".join(topics[k].split()) for k in sorted(names))
    found = (s.strip() for t in text for s in re.split(r"(?<=[.!?])\s+", t))
    return [s for s in found if 20 < len(s) < 300]  # noqa: PLR2004 - sentences, not code


POOLS = (sentences(set(topics) - NEW_TOPICS), sentences(NEW_TOPICS))


def python_docs(n: int, seed: int, shift: float) -> pd.Series:
    """`n` sentences of the reference, `shift` of them from the ten held-out topics."""
    rng = np.random.default_rng(seed)
    fresh = rng.binomial(n, shift)
    texts = [*rng.choice(POOLS[0], n - fresh), *rng.choice(POOLS[1], fresh)]
    return pd.Series(rng.permutation(texts), name="text")


def _zipf(vocabulary: str, size: int, rng: np.random.Generator) -> np.ndarray:
    words = vocabulary.split()
    weights = 1 / np.arange(1, len(words) + 1)
    return rng.choice(words, size, p=weights / weights.sum())


def reviews(n: int, seed: int, shift: float) -> pd.Series:
    """`n` short food reviews, `shift` of their topic words about electronics instead."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 15, n)
    total = int(lengths.sum())
    topical = rng.random(total) < 0.45  # noqa: PLR2004 - the share of topic words
    words = np.where(topical, _zipf(FOOD, total, rng), _zipf(COMMON, total, rng))
    swapped = topical & (rng.random(total) < shift)
    words[swapped] = _zipf(GADGETS, int(swapped.sum()), rng)
    return pd.Series([" ".join(w) for w in np.split(words, np.cumsum(lengths)[:-1])], name="text")


def driftloop(ref: pd.Series, cur: pd.Series) -> tuple[float, float, bool]:
    """AUC, p-value and verdict of `measure_text_drift` (alpha 0.05, one column)."""
    d = text_drift.measure_text_drift(ref, cur, categorical_method="jensenshannon", threshold=0.1)
    p_value = 1.0 if d.p_value is None else d.p_value
    return d.score, p_value, d.drifted and p_value < 0.05  # noqa: PLR2004 - alpha


def driftloop_with_chars(ref: pd.Series, cur: pd.Series) -> tuple[float, float, bool]:
    """The same, with character 3-5-grams hashed beside the words."""
    words, text_drift._NGRAMS = text_drift._NGRAMS, WITH_CHARS
    try:
        return driftloop(ref, cur)
    finally:
        text_drift._NGRAMS = words


def evidently_before(ref: pd.Series, cur: pd.Series) -> tuple[float, float, bool]:
    """Evidently's percentile text drift at the 0.1 threshold, as driftloop ran it before."""
    auc, drifted = calculate_text_drift_score(ref, cur, bootstrap=True, p_value=1 - 0.1)
    return float(auc), float("nan"), bool(drifted)


def evidently_absolute(ref: pd.Series, cur: pd.Series) -> tuple[float, float, bool]:
    """Evidently's absolute text drift at its default AUC threshold, 0.55."""
    auc, drifted = calculate_text_drift_score(ref, cur, bootstrap=False, threshold=0.55)
    return float(auc), float("nan"), bool(drifted)


METHODS: dict[str, Callable[[pd.Series, pd.Series], tuple[float, float, bool]]] = {
    "driftloop": driftloop,
    "driftloop + char n-grams": driftloop_with_chars,
    "evidently before (percentile, 0.1)": evidently_before,
    "evidently absolute (0.55)": evidently_absolute,
}
SOURCES = {"python docs": python_docs, "reviews": reviews}


def main() -> None:
    """Run every method on every source, size and shift; write the CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 2000])
    args = parser.parse_args()
    rows = []
    for (source, draw), size, (method, test) in _grid(args.sizes):
        # Evidently's percentile rule costs seconds a call (1,000 random AUCs): false alarms only.
        for shift in (
            SHIFTS[source][:1] if method.startswith("evidently before") else SHIFTS[source]
        ):
            found = []
            for seed in range(args.runs):
                ref, cur = draw(size, 2 * seed, 0.0), draw(size, 2 * seed + 1, shift)
                started = time.perf_counter()
                auc, p_value, flagged = test(ref, cur)
                found.append((auc, p_value, flagged, time.perf_counter() - started))
            aucs, _, flags, seconds = (np.array(column) for column in zip(*found, strict=True))
            rows.append(
                {
                    "source": source,
                    "rows_a_side": size,
                    "shift": shift,
                    "method": method,
                    "runs": args.runs,
                    "flagged": int(flags.sum()),
                    "mean_auc": round(float(aucs.mean()), 3),
                    "median_ms": round(1000 * float(np.median(seconds)), 1),
                }
            )
            print(rows[-1], flush=True)
    pd.DataFrame(rows).to_csv(Path(__file__).with_name("text-drift-results.csv"), index=False)


def _grid(sizes: list[int]) -> list[tuple[tuple[str, Callable[..., pd.Series]], int, tuple]]:
    return [(s, n, m) for s in SOURCES.items() for n in sizes for m in METHODS.items()]


if __name__ == "__main__":
    main()
