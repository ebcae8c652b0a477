"""Text columns get length, blank, encoding and word checks from their reference profile."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config.spec import DatasetSpec
from data_validation.backtest import backtest_suite
from data_validation.gate import ensure_suites, open_context, validate_frame
from data_validation.suite import build_suites
from data_validation.text_expectations import (
    BLANK,
    GARBLED,
    TEXT_ALLOWANCE,
    profile_text,
    text_expectations,
    worst_share,
)

WORDS = ["fresh", "stale", "tasty", "bland", "coffee", "tea", "was", "and", "the", "box", "it's"]


def reviews(rows: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, rng.integers(6, 40))) for _ in range(rows)]
    return pd.DataFrame({"review": texts, "y": rng.integers(0, 2, rows)})


def spec() -> DatasetSpec:
    return DatasetSpec(
        name="texts",
        task="binary",
        target="y",
        features={"text": ("review",)},
        reference="r.parquet",
        incoming="in",
    )


def _checks(frame: pd.DataFrame) -> dict[str, dict]:
    [labelled, _] = build_suites(spec(), frame)
    return {
        e.expectation_type + (f" {e.regex}" if hasattr(e, "regex") else ""): e.configuration.kwargs
        for e in labelled.expectations
        if getattr(e, "column", None) == "review"
    }


def _verdict(reference: pd.DataFrame, batch: pd.DataFrame) -> list[str]:
    with tempfile.TemporaryDirectory() as root:
        context = open_context(Path(root))
        ensure_suites(context, spec(), lambda: reference)
        outcome = validate_frame(context, batch, spec())
    return sorted({f.expectation.split("(")[0] for f in outcome.failures})


def test_a_text_column_is_checked_beyond_existence() -> None:
    checks = _checks(reviews())
    lengths = checks["expect_column_value_lengths_to_be_between"]
    assert lengths["min_value"] >= 1 and lengths["max_value"] > 100
    assert f"expect_column_values_to_not_match_regex {BLANK}" in checks
    assert f"expect_column_values_to_not_match_regex {GARBLED}" in checks
    assert any(name.startswith("expect_column_values_to_match_regex") for name in checks)


def test_length_range_is_one_character_to_twice_the_longest() -> None:
    profile = profile_text("review", pd.Series(["a" * 40, "b" * 300, None]))
    assert profile is not None
    assert profile.length_range == (1, 600)
    empty = profile_text("review", pd.Series(["", "b" * 30]))
    assert empty is not None
    assert empty.length_range == (0, 60)


def test_the_allowances_start_from_the_references_worst_stretch() -> None:
    # One value in 50 of the reference is garbled, all of them in its last tenth.
    texts = ["fine words here"] * 900 + ["caf\ufffd au lait"] * 20 + ["fine words here"] * 80
    profile = profile_text("review", pd.Series(texts))
    assert profile is not None
    assert profile.garbled_share == pytest.approx(0.2)
    [garbled] = [e for e in text_expectations(profile) if getattr(e, "regex", "") == GARBLED]
    assert garbled.mostly == pytest.approx(1 - 0.2 - TEXT_ALLOWANCE)


def test_a_check_the_reference_gives_nothing_to_hold_to_is_left_out() -> None:
    profile = profile_text("code", pd.Series(["11", "22", "3-3"] * 100))  # no letter in any value
    assert profile is not None
    kinds = [type(e).__name__ for e in text_expectations(profile)]
    assert "ExpectColumnValuesToMatchRegex" not in kinds
    assert "ExpectColumnValueLengthsToBeBetween" in kinds


def test_a_column_without_text_values_gets_no_text_checks() -> None:
    assert profile_text("review", pd.Series([1.5, 2.5])) is None
    assert profile_text("review", pd.Series([None, None], dtype=object)) is None


def test_worst_share_is_the_highest_share_of_any_stretch() -> None:
    flags = pd.Series([False] * 90 + [True] * 10)
    assert worst_share(flags) == pytest.approx(1.0)
    assert worst_share(pd.Series([], dtype=bool)) == 0.0


def test_the_garbled_pattern_flags_codec_damage_but_not_other_scripts() -> None:
    garbled = pd.Series(["don\ufffdt", "caf\u00c3\u00a9", "\u00e2\u20acoquoted", "nul\x00byte"])
    clean = pd.Series(
        ["café déjà vu", "καλό φαγητό", "很好吃 🙂", "tab\tand\nnewline", "it\u2019s"]
    )
    assert garbled.str.contains(GARBLED).all()
    assert not clean.str.contains(GARBLED).any()


def test_normal_batches_pass_and_a_broken_export_fails_the_text_checks() -> None:
    reference, normal = reviews(1000, seed=0), reviews(300, seed=1)
    assert _verdict(reference, normal) == []
    text = normal["review"].str.replace("'", "\ufffd").to_numpy(copy=True)
    text[::4] = " "
    broken = normal.assign(review=text)
    assert _verdict(reference, broken) == [  # a blank " " is one character: not a length fault
        "expect_column_values_to_match_regex",
        "expect_column_values_to_not_match_regex",
    ]


def test_the_text_checks_reject_none_of_the_references_own_newer_rows() -> None:
    # Words of other scripts, emoji, tabs and line breaks are text too.
    rng = np.random.default_rng(3)
    words = [*WORDS, "καλό", "很好", "🙂", "naïve", "déjà"]
    texts = [
        " ".join(rng.choice(words, rng.integers(1, 12))) + ("\tend\n" if i % 7 == 0 else "")
        for i in range(2000)
    ]
    frame = pd.DataFrame({"review": texts, "y": rng.integers(0, 2, 2000)})
    assert backtest_suite(spec(), frame, batches=10).rejected == 0
