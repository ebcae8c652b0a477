"""Text columns as TF-IDF features, computed from a fitted vocabulary stored as data.

This file is logged with every model and imported by its serving code, so it depends on numpy,
scipy (which XGBoost itself requires) and the standard library only: the served model turns raw
text into the same sparse features as training did without scikit-learn. `training.featurizer`
fits the state with scikit-learn's `TfidfVectorizer`; this module repeats its `transform` step by
step (preprocess, analyze, count, tf, idf, l2 norm), in the same order of floating-point
operations, so both give identical matrices.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

_WHITE_SPACES = re.compile(r"\s\s+")
# A term goes into an XGBoost feature name, which may not hold these characters.
_NAME_ESCAPES = str.maketrans({"\\": "\\\\", "[": "\\x5b", "]": "\\x5d", "<": "\\x3c"})


def documents(values: pd.Series) -> list[str]:
    """Each row's text; a missing value is the empty text (no terms), a number its own text.

    Whole numbers stored as floats read as their integer text ("3", not "3.0"), as categories do.
    """
    if pd.api.types.is_float_dtype(values.dtype):
        known = values.dropna().to_numpy()
        # Past 2**53 a float is no exact integer: such a value keeps its float text.
        exact = np.isfinite(known).all() and (np.abs(known) < 2**53).all()
        if exact and (known % 1 == 0).all():
            values = values.astype("Int64")
    present = values.notna().to_numpy()
    return [str(v) if keep else "" for v, keep in zip(values.tolist(), present, strict=True)]


def text_matrix(values: pd.Series, column: Mapping[str, Any]) -> sp.csr_matrix:
    """One text column's features: each fitted block (words, characters) side by side.

    Args:
        values: The column's raw values.
        column: Its fitted state (see `training.featurizer.fit_text_column`).

    Returns:
        A CSR matrix with a row per value and a column per vocabulary term of every block.
    """
    texts = [_preprocess(doc, column) for doc in documents(values)]
    blocks = [_tfidf(texts, block) for block in column["blocks"]]
    if not blocks:
        return sp.csr_matrix((len(texts), 0), dtype="float64")
    return sp.hstack(blocks, format="csr", dtype="float64")


def feature_names(name: str, column: Mapping[str, Any]) -> list[str]:
    """Names of the column's features, "<column>:<analyzer>:<term>" (XGBoost-safe)."""
    return [
        f"{name}:{block['analyzer']}:{term.translate(_NAME_ESCAPES)}"
        for block in column["blocks"]
        for term in block["terms"]
    ]


def analyze(text: str, block: Mapping[str, Any]) -> list[str]:
    """The terms of one preprocessed text, as the block's analyzer produces them."""
    low, high = block["ngram_range"]
    if block["analyzer"] == "word":
        return _word_ngrams(re.findall(block["token_pattern"], text), low, high)
    if block["analyzer"] == "char_wb":
        return _char_wb_ngrams(text, low, high)
    raise ValueError(f"unknown text analyzer {block['analyzer']!r}")


def _preprocess(text: str, column: Mapping[str, Any]) -> str:
    if column["lowercase"]:
        text = text.lower()
    if column["strip_accents"] == "unicode":
        text = _strip_accents(text)
    return text


def _strip_accents(text: str) -> str:
    if text.isascii():
        return text
    normalized = unicodedata.normalize("NFKD", text)
    return "".join(c for c in normalized if not unicodedata.combining(c))


def _word_ngrams(tokens: Sequence[str], low: int, high: int) -> list[str]:
    grams = list(tokens) if low == 1 else []
    for n in range(max(low, 2), min(high, len(tokens)) + 1):
        grams += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return grams


def _char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text).split():
        padded = f" {word} "
        for n in range(low, high + 1):
            if len(padded) <= n:
                grams.append(padded)  # a word shorter than n counts once, as itself
                break
            grams += [padded[i : i + n] for i in range(len(padded) - n + 1)]
    return grams


def _tfidf(texts: Iterable[str], block: Mapping[str, Any]) -> sp.csr_matrix:
    index = {term: i for i, term in enumerate(block["terms"])}
    counts = _counts(texts, block, index)
    if block["sublinear_tf"]:
        counts.data = np.log(counts.data) + 1.0
    counts.data *= np.asarray(block["idf"], dtype="float64")[counts.indices]
    _normalize_rows(counts)
    return counts


def _counts(texts: Iterable[str], block: Mapping[str, Any], index: dict[str, int]) -> sp.csr_matrix:
    columns: list[int] = []
    values: list[int] = []
    indptr = [0]
    for text in texts:
        found: dict[int, int] = {}
        for term in analyze(text, block):
            position = index.get(term)
            if position is not None:
                found[position] = found.get(position, 0) + 1
        columns += found
        values += found.values()
        indptr.append(len(columns))
    matrix = sp.csr_matrix(
        (
            np.asarray(values, dtype="float64"),
            np.asarray(columns, dtype="int32"),
            np.asarray(indptr, dtype="int64"),
        ),
        shape=(len(indptr) - 1, len(index)),
    )
    matrix.sort_indices()
    return matrix


def _normalize_rows(matrix: sp.csr_matrix) -> None:
    """Divide each row by its l2 norm in place; empty rows stay empty.

    The squares are summed term by term in column order, as scikit-learn's normalizer does, so
    the result matches it bit for bit (a pairwise or blocked sum would round differently).
    """
    lengths = np.diff(matrix.indptr)
    squares = matrix.data * matrix.data
    # Rows longest first: the rows with more than k terms are a prefix, so step k costs only
    # as much as the rows it adds to.
    order = np.argsort(-lengths, kind="stable")
    longer = np.searchsorted(-lengths[order], -np.arange(int(lengths.max(initial=0))), "left")
    starts = matrix.indptr[order]
    sums = np.zeros(len(order), dtype="float64")
    for k, count in enumerate(longer):
        sums[:count] += squares[starts[:count] + k]
    sums = sums[np.argsort(order, kind="stable")]
    norms = np.sqrt(sums)
    norms[sums == 0.0] = 1.0
    matrix.data /= np.repeat(norms, lengths)
