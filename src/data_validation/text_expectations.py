"""Derive the expectations of text columns from a profile of their reference values.

Beyond "the column exists and is mostly filled": its values' length stays in the reference's
range, blank values stay as rare as there, and so do garbled ones (the marks of a wrong codec
or of binary data) and ones without a letter. Each allowance starts from the reference's own
worst stretch of rows, so normal batches of the same text pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from great_expectations.expectations.expectation import Expectation

import great_expectations.expectations as gxe

# Values may be as short as one character (a real "Great!" is shorter than most references'
# shortest review; blank ones have a check of their own) and grow to twice the reference's
# longest: texts of other products or topics differ in length, a runaway field does not pass.
LENGTH_STRETCH = 2.0
# Share of values that may fall outside the length range.
LENGTH_ALLOWANCE = 0.02
# Extra share of blank, garbled or wordless values a batch may carry beyond the reference's
# worst of `TEXT_WINDOWS` consecutive stretches of its rows. At 0.02, 2 of 20 backtest batches
# of 60 real reviews (the 4,000 of the reviews demo) failed on 2 garbled values each (3.3%);
# at 0.05 none did, and a broken export (15% empty, 44% garbled) still fails.
TEXT_ALLOWANCE = 0.05
TEXT_WINDOWS = 10
# Nothing but whitespace (an empty string or a space the export left in place of the text).
BLANK = r"^\s*$"
# The marks of text that went through the wrong codec or is not text at all: U+FFFD (what a
# decoder leaves of a byte it could not read), control characters other than tab and line
# breaks, C1 controls and the UTF-8-read-as-Latin-1 pairs ("Ã©" for "é", "â€" before a quote).
GARBLED = r"[\ufffd\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|\u00c3[\x80-\xbf]|\u00e2\u20ac"
# A letter of any script: a value without one is digits, punctuation or symbols alone. (One
# letter, not a word: Devanagari's vowel signs are not word characters, a Chinese word is one.)
WORD = r"[^\W\d_]"


@dataclass(frozen=True)
class TextProfile:
    """How a text column's reference values look: lengths and the worst shares of odd values."""

    column: str
    shortest: int
    longest: int
    blank_share: float
    garbled_share: float
    wordless_share: float

    @property
    def length_range(self) -> tuple[int, int]:
        """The value lengths a batch may hold (all but `LENGTH_ALLOWANCE` of its values)."""
        return min(1, self.shortest), math.ceil(self.longest * LENGTH_STRETCH)


def profile_text(column: str, values: pd.Series) -> TextProfile | None:
    """Profile the non-null `values` of a text column, in time order (None: none is text)."""
    known = values.dropna()
    if known.empty or not all(isinstance(v, str) for v in known):
        return None
    text = known.astype(str)
    lengths = text.str.len()
    return TextProfile(
        column=column,
        shortest=int(lengths.min()),
        longest=int(lengths.max()),
        blank_share=worst_share(text.str.contains(BLANK)),
        garbled_share=worst_share(text.str.contains(GARBLED)),
        wordless_share=worst_share(~text.str.contains(WORD)),
    )


def worst_share(flags: pd.Series) -> float:
    """The highest share of true `flags` in any of `TEXT_WINDOWS` consecutive stretches."""
    marked = flags.to_numpy(dtype=bool)
    if not len(marked):
        return 0.0
    stretches = [part.mean() for part in np.array_split(marked, min(TEXT_WINDOWS, len(marked)))]
    return float(max(stretches))


def text_expectations(profile: TextProfile) -> list[Expectation]:
    """The length, blank, encoding and word checks of one text column.

    A check whose allowance would cover every value (the reference is mostly blank, garbled or
    wordless) is left out: the profile gives it nothing to hold a batch to.
    """
    column = profile.column
    low, high = profile.length_range
    expectations: list[Expectation] = [
        gxe.ExpectColumnValueLengthsToBeBetween(
            column=column,
            min_value=low,
            max_value=high,
            mostly=1 - LENGTH_ALLOWANCE,
            notes=(
                f"The reference's values are {profile.shortest} to {profile.longest} characters "
                "long: a batch of runaway or empty texts is a broken export."
            ),
        )
    ]
    checks = (
        (gxe.ExpectColumnValuesToNotMatchRegex, BLANK, profile.blank_share, "blank"),
        (gxe.ExpectColumnValuesToNotMatchRegex, GARBLED, profile.garbled_share, "garbled"),
        (gxe.ExpectColumnValuesToMatchRegex, WORD, profile.wordless_share, "without a letter"),
    )
    for kind, regex, share, what in checks:
        mostly = round(1.0 - share - TEXT_ALLOWANCE, 4)
        if mostly <= 0:
            continue
        expectations.append(
            kind(
                column=column,
                regex=regex,
                mostly=mostly,
                notes=(
                    f"At most {share:.1%} of the reference's values in any stretch were {what}; "
                    f"a batch may have {TEXT_ALLOWANCE:.0%} more."
                ),
            )
        )
    return expectations
