"""Model checks on the reviews demo: the words carry what the review's length cannot."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.spec import DatasetSpec, load_spec
from demo_data.reviews import BATCH_ROWS, REFERENCE_ROWS, load_source_frames
from training.fit import TrainingResult, fit_model
from training.params import TrainingParams

ROOT = Path(__file__).resolve().parents[2]
PARAMS = TrainingParams(n_jobs=2)


@pytest.fixture(scope="module")
def both() -> tuple[TrainingResult, TrainingResult]:
    """The demo's first model (reference + batch-01), and one on the same rows without text."""
    spec = load_spec(ROOT / "data" / "reviews.yaml", base=ROOT)
    training, _ = load_source_frames()
    frame = training.iloc[: REFERENCE_ROWS + BATCH_ROWS].reset_index(drop=True)
    # Without the text a spec needs a feature: the review's length in words, from the same text.
    frame = frame.assign(words=frame["review"].str.split().str.len())
    without_text = DatasetSpec.model_validate(
        spec.model_dump() | {"features": {"numeric": ["words"]}}
    )
    return fit_model(frame, spec, PARAMS), fit_model(frame, without_text, PARAMS)


def test_the_text_model_beats_a_model_without_the_text_by_a_margin(both) -> None:
    with_text, without = both
    # Measured on the same 500-review holdout: ROC AUC 0.847 against 0.465 (length in words
    # alone says nothing of the verdict), log loss 0.447 against 0.844.
    assert with_text.metrics["roc_auc"] > 0.8
    assert with_text.metrics["roc_auc"] - without.metrics["roc_auc"] > 0.25
    assert with_text.metrics["log_loss"] < without.metrics["log_loss"]
