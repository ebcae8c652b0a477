from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import SpecError
from config.spec import TextFeaturizer, load_spec

TEXT_ONLY = """
name: reviews
task: binary
target: liked
features:
  text: [review, title]
reference: data/reference/reviews.parquet
incoming: data/incoming/reviews/
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_a_text_only_spec_serves_its_text_columns(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, TEXT_ONLY))
    assert spec.model_columns == ()
    assert spec.served_columns == ("review", "title")
    assert spec.text_features == TextFeaturizer()


def test_text_columns_follow_the_other_served_columns(tmp_path: Path) -> None:
    text = TEXT_ONLY.replace("  text: [review, title]", "  numeric: [price]\n  text: [review]")
    spec = load_spec(write(tmp_path, text))
    assert spec.served_columns == ("price", "review")


def test_featurizer_options_are_read_from_the_spec(tmp_path: Path) -> None:
    options = "text_features: {max_features: 300, char_ngrams: [2, 4], min_df: 3}\n"
    spec = load_spec(write(tmp_path, TEXT_ONLY + options))
    assert spec.text_features.max_features == 300
    assert spec.text_features.char_ngrams == (2, 4)
    assert spec.text_features.word_ngrams == (1, 2) and spec.text_features.min_df == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("{word_ngrams: [3, 1]}", r"text_features\.word_ngrams: \[3, 1\] is not an n-gram range"),
        ("{char_ngrams: [0, 2]}", r"text_features\.char_ngrams: \[0, 2\] is not an n-gram range"),
        ("{word_ngrams: null}", "set word_ngrams or char_ngrams"),
        ("{max_features: 0}", r"text_features\.max_features"),
        ("{vocabulary: 10}", r"text_features\.vocabulary: unknown field"),
    ],
)
def test_wrong_featurizer_options_name_the_field(tmp_path: Path, options, message) -> None:
    with pytest.raises(SpecError, match=message):
        load_spec(write(tmp_path, TEXT_ONLY + f"text_features: {options}\n"))
