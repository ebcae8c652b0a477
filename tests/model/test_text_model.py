"""Model checks for text columns: the words must carry what the other columns cannot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config.spec import DatasetSpec
from training.fit import TrainingResult, fit_model
from training.model_code import predict_scores
from training.params import TrainingParams

PARAMS = TrainingParams(n_jobs=1)
GOOD = ["great", "superb", "lovely", "gripping", "moving"]
BAD = ["dull", "awful", "boring", "weak", "clumsy"]
FILLER = ["the", "plot", "film", "cast", "was", "and", "ending", "scene", "music", "story"]


def labelled_reviews(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Seeded reviews: the label is in the words (30% say it as "not <opposite>"), 10% noise.

    `stars_seen`, a number, carries a weak hint of the label, so the model without the text
    has something to learn from too.
    """
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, rows)
    texts = []
    for positive in label:
        words = [str(w) for w in rng.choice(FILLER, rng.integers(4, 15))]
        word = str(rng.choice(GOOD if positive else BAD))
        if rng.random() < 0.3:
            word = "not " + str(rng.choice(BAD if positive else GOOD))
        words.insert(int(rng.integers(0, len(words) + 1)), word)
        texts.append(" ".join(words))
    noisy = np.where(rng.random(rows) < 0.1, 1 - label, label)
    hint = rng.normal(0.5 * label, 1.0)
    return pd.DataFrame({"t": np.arange(rows), "stars_seen": hint, "review": texts, "y": noisy})


def spec(tmp_path: Path, *, text: bool) -> DatasetSpec:
    return DatasetSpec(
        name="reviews",
        task="binary",
        target="y",
        timestamp="t",
        features={"numeric": ("stars_seen",), "text": ("review",) if text else ()},
        reference=tmp_path / "reference.parquet",
        incoming=tmp_path / "incoming",
    )


@pytest.fixture(scope="module")
def both(tmp_path_factory) -> tuple[TrainingResult, TrainingResult]:
    root = tmp_path_factory.mktemp("text")
    frame = labelled_reviews()
    return fit_model(frame, spec(root, text=True), PARAMS), fit_model(
        frame, spec(root, text=False), PARAMS
    )


def test_text_model_beats_the_model_without_text_by_a_margin(both) -> None:
    with_text, without = both
    # Measured: ROC AUC 0.884 against 0.563 on the 600-row holdout (10% of labels are flipped,
    # so accuracy tops out near 0.9; the text model reaches 0.877).
    assert with_text.metrics["roc_auc"] > 0.85
    assert with_text.metrics["roc_auc"] - without.metrics["roc_auc"] > 0.25
    assert with_text.metrics["log_loss"] < without.metrics["log_loss"]


def test_negation_is_read_from_word_pairs(both) -> None:
    with_text, _ = both
    rows = pd.DataFrame(
        {"stars_seen": [0.25, 0.25], "review": ["the film was not dull", "the film was dull"]}
    )
    praised, panned = predict_scores(with_text.booster, rows, with_text.schema)
    assert praised > 0.5 > panned


def test_changing_a_filler_word_barely_moves_the_score(both) -> None:
    with_text, _ = both
    rows = pd.DataFrame(
        {"stars_seen": [0.0, 0.0], "review": ["the plot was superb", "the story was superb"]}
    )
    first, second = predict_scores(with_text.booster, rows, with_text.schema)
    assert abs(first - second) < 0.1
