"""Drift of a text column: a domain classifier's held-out ROC AUC, tested against its own null."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from evidently.legacy.calculations.stattests.registry import get_stattest
from evidently.legacy.core import ColumnType
from scipy import sparse, stats
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression

from model_monitoring.measures import ColumnDrift, DriftTests

CLASSIFIER = "domain classifier ROC AUC"
# The effect a text column must show besides significance: a classifier ranks a batch text above
# a reference one 60% of the time (a standardized difference of 0.36, AUC = Phi(d / sqrt 2)).
# A share s of recognisably new texts gives at most 0.5 + s / 2: on Python's reference pages,
# half a batch on new topics scores 0.65-0.69 and a fifth 0.54-0.56 (benchmarks/text_drift.py).
# Under no change, 300 texts a side reach 0.6 about once in 1,000 runs (3 null sds), so small
# batches do not flag by chance, and thousands of rows with a trivial, significant difference
# (AUC 0.52-0.57) do not flag either.
MIN_AUC = 0.6
MIN_TEXTS = 20  # per side; with fewer, the held-out half has about 10 texts a side
MAX_DISTINCT = 20  # this many distinct texts or fewer: the column is a category in all but name
TEXT_ROWS = 5_000  # per side: with about 2,500 a side held out, the null AUC's sd is 0.008
SEED = 0
MIN_DF = 2  # an n-gram in one fitted text can only memorise that text
# Hashed n-grams have no vocabulary to learn, so no column (empty texts, one word, stop words
# only) can leave the vectorizer without terms; 2**18 buckets keep collisions rare here.
_NGRAMS = HashingVectorizer(
    ngram_range=(1, 2),
    token_pattern=r"(?u)\b\w+\b",
    n_features=2**18,
    alternate_sign=False,
    norm=None,
)


def measure_text_columns(
    reference: pd.DataFrame, current: pd.DataFrame, text: Sequence[str], tests: DriftTests
) -> dict[str, ColumnDrift]:
    """`measure_text_drift` on each of the `text` columns, with the pinned categorical test."""
    return {
        c: measure_text_drift(
            reference[c],
            current[c],
            categorical_method=tests.categorical_method,
            threshold=tests.threshold,
        )
        for c in text
    }


def measure_text_drift(
    reference: pd.Series,
    current: pd.Series,
    *,
    categorical_method: str,
    threshold: float,
    min_auc: float = MIN_AUC,
) -> ColumnDrift:
    """Test whether a text column's batch can be told apart from its reference.

    A logistic regression on TF-IDF word 1-2-grams is fit on half the distinct texts and
    scores the other half. Under no drift the held-out scores do not depend on the side a text
    came from, so their ROC AUC is a Mann-Whitney U / (n_ref * n_cur) with its exact null (mean
    0.5, variance (n1 + n2 + 1) / (12 n1 n2) without ties): the one-sided p-value needs no
    permutations and is corrected with the other columns' (Benjamini-Hochberg). The column
    drifts by distance when the AUC is at least `min_auc`. Missing values are dropped, as for
    other columns; each side is tested on at most `TEXT_ROWS` texts.

    Fallbacks, named in the result's `method`: a side with fewer than `MIN_TEXTS` texts is not
    tested (score 0.5, the AUC of no difference, and no p-value); a column of at most
    `MAX_DISTINCT` distinct texts (all the same, a few labels), or one too repetitive to split
    in halves that both hold each side, is tested as a category: the pinned categorical
    distance against `threshold`, and a chi-square test of the two sides' counts.

    Args:
        reference: The column in the reference (named).
        current: The column in the batch.
        categorical_method: The categorical method pinned in settings (for the fallback).
        threshold: Its threshold.
        min_auc: The held-out AUC from which the column drifts by distance.

    Returns:
        The column's drift, kind "text", before correction (`significant` is False).
    """
    column = str(reference.name)
    ref, cur = _texts(reference), _texts(current)
    if min(len(ref), len(cur)) < MIN_TEXTS:
        method = (
            f"not tested: too little text ({len(ref)} reference and {len(cur)} current texts, "
            f"under {MIN_TEXTS} a side)"
        )
        return ColumnDrift(column, "text", method, 0.5, min_auc, drifted=False)
    distinct = pd.concat([ref, cur]).nunique()
    held = None if distinct <= MAX_DISTINCT else held_out_auc(ref, cur)
    if held is None:
        why = "too few for a classifier" if distinct <= MAX_DISTINCT else "too repetitive to split"
        score, drifted, p_value = _as_categories(ref, cur, categorical_method, threshold)
        texts = "1 distinct text" if distinct == 1 else f"{distinct} distinct texts"
        method = f"{categorical_method} over {texts} ({why})"
        return ColumnDrift(column, "text", method, score, threshold, drifted, p_value)
    auc, p_value = held
    return ColumnDrift(column, "text", CLASSIFIER, auc, min_auc, auc >= min_auc, p_value)


def held_out_auc(reference: pd.Series, current: pd.Series) -> tuple[float, float] | None:
    """A domain classifier's ROC AUC on held-out texts and its one-sided Mann-Whitney p-value.

    Each distinct text lies wholly in the fitted half or the held-out half: split row by row,
    a text repeated on both sides ("Great product!") would be learned with the side it has in
    the fitted half and met with the other when held out, which pulls the AUC under 0.5 and
    hides drift. The model sees each distinct text once per side, weighted by its count. None
    when a half would hold no text of one side (a side of one text, repeated).
    """
    ref, cur = _sample(reference), _sample(current)
    codes, distinct = pd.factorize(pd.concat([ref, cur], ignore_index=True))
    sides = (codes[: len(ref)], codes[len(ref) :])
    counts = np.stack([np.bincount(s, minlength=len(distinct)) for s in sides])
    fit, held = _halves(counts.sum(axis=0))
    if not (counts[:, fit].sum(axis=1).all() and counts[:, held].sum(axis=1).all()):
        return None
    features = _features(pd.Series(distinct), fit)
    scores = np.zeros(len(held))  # no n-gram shared by two fitted texts (ids): nothing to learn
    if features.shape[1]:
        rows, side, weight = _weighted_rows(counts, fit)
        model = LogisticRegression(solver="liblinear")
        model.fit(features[rows], side, sample_weight=weight)
        scores = model.decision_function(features[held])
    drawn = [np.repeat(scores, counts[s, held]) for s in (1, 0)]
    u, p_value = stats.mannwhitneyu(*drawn, alternative="greater")
    return float(u) / (len(drawn[0]) * len(drawn[1])), float(p_value)


def _halves(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct texts in a seeded random order, cut where half the rows are reached."""
    order = np.random.default_rng(SEED).permutation(len(rows))
    before = np.cumsum(rows[order]) - rows[order]
    first = before < rows.sum() / 2
    return np.sort(order[first]), np.sort(order[~first])


def _features(texts: pd.Series, fit: np.ndarray) -> sparse.csr_matrix:
    """TF-IDF of hashed n-grams, weighted on the fitted half, in the buckets it uses."""
    hashed = _NGRAMS.transform(texts)
    features = TfidfTransformer(sublinear_tf=True).fit(hashed[fit]).transform(hashed).tocsr()
    # The solver's cost grows with the matrix's width (2**18): keep the buckets that matter.
    seen = np.bincount(features[fit].indices, minlength=features.shape[1])
    return features[:, np.flatnonzero(seen >= MIN_DF)]


def _weighted_rows(
    counts: np.ndarray, fit: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each fitted text once per side it occurs on, weighted as two balanced classes of rows."""
    rows, side, weight = [], [], []
    for s in (0, 1):
        present = fit[counts[s, fit] > 0]
        rows.append(present)
        side.append(np.full(len(present), s))
        weight.append(counts[s, present] * counts[:, fit].sum() / (2 * counts[s, fit].sum()))
    return np.concatenate(rows), np.concatenate(side), np.concatenate(weight)


def _texts(values: pd.Series) -> pd.Series:
    return values.dropna().astype(str).str.split().str.join(" ").reset_index(drop=True)


def _sample(texts: pd.Series) -> pd.Series:
    if len(texts) <= TEXT_ROWS:
        return texts
    picked = np.random.default_rng(SEED).choice(len(texts), size=TEXT_ROWS, replace=False)
    return texts.iloc[np.sort(picked)].reset_index(drop=True)


def _as_categories(
    ref: pd.Series, cur: pd.Series, method: str, threshold: float
) -> tuple[float, bool, float]:
    pinned = get_stattest(ref, cur, ColumnType.Categorical, method)
    result = pinned(ref, cur, ColumnType.Categorical, threshold)
    counts = pd.concat([ref.value_counts(), cur.value_counts()], axis=1).fillna(0).to_numpy()
    p_value = float(stats.chi2_contingency(counts.T).pvalue)
    return float(result.drift_score), bool(result.drifted), p_value
