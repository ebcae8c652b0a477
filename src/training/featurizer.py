"""Fit the text featurizer: a TF-IDF vocabulary per text column, exported as plain data.

scikit-learn's `TfidfVectorizer` learns each column's vocabulary (the most frequent terms, capped)
and idf weights on the training rows; only those, with the settings that produced them, are
kept (JSON-able lists and numbers, no fitted object), and `training.text_features` computes the
features from them in training, evaluation and the served model alike.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from config.spec import TextFeaturizer
from training.text_features import documents

logger = logging.getLogger(__name__)

# scikit-learn's default token: two or more word characters.
TOKEN_PATTERN = r"(?u)\b\w\w+\b"
# Accents are folded ("café" and "cafe" are one word) and case is ignored.
LOWERCASE = True
STRIP_ACCENTS = "unicode"
# scikit-learn's messages for a vocabulary left empty (its only signal: a plain ValueError).
EMPTY_VOCABULARY = ("empty vocabulary", "no terms remain")


def fit_text_features(
    frame: pd.DataFrame, columns: tuple[str, ...], options: TextFeaturizer
) -> dict[str, dict[str, Any]]:
    """Fit a featurizer per text column on `frame`'s rows (the training rows).

    Args:
        frame: Training rows holding the text columns.
        columns: The text columns, in model order.
        options: Analyzers, n-gram ranges, vocabulary cap and minimum document frequency.

    Returns:
        Each column's state by name, as `text_features.text_matrix` reads it.
    """
    return {column: fit_text_column(frame[column], options) for column in columns}


def fit_text_column(values: pd.Series, options: TextFeaturizer) -> dict[str, Any]:
    """One column's state: the preprocessing settings and a block per analyzer.

    A block holds its analyzer, n-gram range, terms (in feature order) and idf weights. A block
    without terms (no text, or none in `min_df` rows) is left out, so a column of empty texts
    adds no features.
    """
    texts = documents(values)
    analyzers = [("word", options.word_ngrams), ("char_wb", options.char_ngrams)]
    blocks = [
        block
        for analyzer, ngrams in analyzers
        if ngrams is not None
        for block in [_fit_block(texts, analyzer, ngrams, options)]
        if block is not None
    ]
    if not blocks:
        logger.info("text column %r holds no term in %d rows or more", values.name, options.min_df)
    return {"lowercase": LOWERCASE, "strip_accents": STRIP_ACCENTS, "blocks": blocks}


def vectorizer_for(block: dict[str, Any], column: dict[str, Any]) -> TfidfVectorizer:
    """A scikit-learn vectorizer with the block's settings (what fitted it; used in checks)."""
    return TfidfVectorizer(
        analyzer=block["analyzer"],
        ngram_range=tuple(block["ngram_range"]),
        token_pattern=block["token_pattern"],
        lowercase=column["lowercase"],
        strip_accents=column["strip_accents"],
        sublinear_tf=block["sublinear_tf"],
        dtype=np.float64,
    )


def _fit_block(
    texts: list[str], analyzer: str, ngrams: tuple[int, int], options: TextFeaturizer
) -> dict[str, Any] | None:
    settings: dict[str, Any] = {
        "analyzer": analyzer,
        "ngram_range": list(ngrams),
        "token_pattern": TOKEN_PATTERN,
        "sublinear_tf": options.sublinear_tf,
    }
    vectorizer = vectorizer_for(
        settings, {"lowercase": LOWERCASE, "strip_accents": STRIP_ACCENTS}
    ).set_params(max_features=options.max_features, min_df=max(1, min(options.min_df, len(texts))))
    try:
        vectorizer.fit(texts)
    except ValueError as exc:
        # How scikit-learn says the vocabulary is empty: no term at all, or none frequent enough.
        if any(words in str(exc) for words in EMPTY_VOCABULARY):
            return None
        raise
    terms = vectorizer.get_feature_names_out().tolist()
    return {**settings, "terms": terms, "idf": vectorizer.idf_.tolist()}
