"""Property-based: frames that break the toy suite never pass the gate; quarantine keeps reasons."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import pandas as pdst

from data_validation.gate import ensure_suites, open_context, validate_frame
from data_validation.quarantine import (
    SHOWN_FAILURE_CHARS,
    clip_failure,
    quarantine_batch,
    unreadable_outcome,
)
from data_validation.suite import NULL_ALLOWANCE, OUTLIER_ALLOWANCE, UNSEEN_CATEGORY_FLOOR
from factories import make_frame, toy_spec

REFERENCE = make_frame(600, seed=1)
LOW = {c: REFERENCE[c].min() - (REFERENCE[c].max() - REFERENCE[c].min()) for c in ("x1", "x2")}
HIGH = {c: REFERENCE[c].max() + (REFERENCE[c].max() - REFERENCE[c].min()) for c in ("x1", "x2")}
COLOURS = {"red", "green", "blue"}
# Each example runs a GX checkpoint (about half a second), so the example counts stay small.
GATE = settings(max_examples=8, deadline=None)


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("gx")
    spec = toy_spec(root)
    context = open_context(root / "gx")
    ensure_suites(context, spec, lambda: REFERENCE)
    return context, spec


def failed_columns(outcome) -> set[str | None]:
    return {f.column for f in outcome.failures}


CORRUPTIONS = {
    "nan": np.nan,
    "inf": np.inf,
    "-inf": -np.inf,
    "text": "1,5 kg",
    "date": "2024-01-31",
    "formula": "=1+2",
    "huge": 1e12,
}


@GATE
@given(
    column=st.sampled_from(["x1", "x2"]),
    kind=st.sampled_from(sorted(CORRUPTIONS)),
    rows=st.integers(min_value=11, max_value=100),
    seed=st.integers(0, 1000),
)
def test_corrupted_numeric_column_never_passes(toy, column, kind, rows, seed) -> None:
    context, spec = toy
    frame = make_frame(100, seed=seed)
    bad = frame[column].astype(object)
    bad.iloc[np.random.default_rng(seed).choice(100, rows, replace=False)] = CORRUPTIONS[kind]
    frame[column] = bad if kind in {"text", "date", "formula"} else bad.astype(float)
    outcome = validate_frame(context, frame, spec)
    assert not outcome.success
    assert column in failed_columns(outcome)


@GATE
@given(
    value=st.one_of(
        st.text(min_size=1, max_size=30).filter(lambda v: v not in COLOURS),
        st.sampled_from(["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1)", "x" * 100_000]),
    ),
    rows=st.integers(min_value=6, max_value=100),
)
def test_unseen_or_formula_categories_never_pass(toy, value, rows) -> None:
    context, spec = toy
    frame = make_frame(100, seed=rows)
    frame.loc[: rows - 1, "colour"] = value
    outcome = validate_frame(context, frame, spec)
    assert not outcome.success and "colour" in failed_columns(outcome)
    assert all(len(clip_failure(str(f))) <= SHOWN_FAILURE_CHARS + 3 for f in outcome.failures)


@settings(max_examples=6, deadline=None)
@given(label=st.one_of(st.sampled_from(["yes", "no", "1.0x"]), st.floats(0.01, 0.99), st.just(7)))
def test_labels_of_the_wrong_kind_never_pass(toy, label) -> None:
    context, spec = toy
    frame = make_frame(50, seed=3)
    frame["y"] = frame["y"].astype(object)
    frame.loc[:9, "y"] = label
    outcome = validate_frame(context, frame, spec)
    assert not outcome.success and "y" in failed_columns(outcome)


def within_suite(frame: pd.DataFrame) -> bool:
    """The toy suite's rules, stated independently of GX (the oracle for the next test)."""
    if frame.empty or frame["t"].isna().any():
        return False
    for column in ("x1", "x2"):
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) or values.isna().mean() > NULL_ALLOWANCE:
            return False
        present = values.dropna()
        outside = ~present.between(LOW[column], HIGH[column])
        if len(present) and outside.mean() > OUTLIER_ALLOWANCE:
            return False
    colours = frame["colour"].dropna()
    if frame["colour"].isna().mean() > NULL_ALLOWANCE:
        return False
    if len(colours) and (~colours.isin(COLOURS)).mean() > UNSEEN_CATEGORY_FLOOR:
        return False
    return bool(frame["y"].dropna().isin([0, 1]).all())


FRAMES = pdst.data_frames(
    columns=[
        pdst.column("t", elements=st.integers(0, 10_000), unique=True),
        pdst.column("x1", dtype=float, elements=st.floats(allow_nan=True, allow_infinity=True)),
        pdst.column(
            "x2",
            elements=st.one_of(
                st.floats(-3, 3), st.floats(allow_infinity=True), st.text(max_size=5)
            ),
        ),
        pdst.column("colour", elements=st.sampled_from(["red", "green", "blue", "", "=A1", None])),
        pdst.column("y", elements=st.sampled_from([0, 1, 2, "1", None])),
    ],
    index=pdst.range_indexes(min_size=0, max_size=40),
)


@settings(max_examples=12, deadline=None)
@given(frame=FRAMES)
def test_arbitrary_frames_pass_only_when_within_the_suite(toy, frame) -> None:
    context, spec = toy
    outcome = validate_frame(context, frame, spec)
    if outcome.success:
        assert within_suite(frame)
    else:
        assert outcome.failures


def test_unreadable_batch_is_quarantined_byte_for_byte_with_its_reason(tmp_path: Path) -> None:
    batch = tmp_path / "incoming" / "b.csv"
    batch.parent.mkdir()
    batch.write_bytes(b"\x1f\x8b\x08\x00garbage")
    outcome = unreadable_outcome("cannot read batch b.csv: not CSV: gzip-compressed data")
    moved = quarantine_batch(batch, outcome, tmp_path / "quarantine", stamp="20260101T000000Z")
    assert moved.read_bytes() == b"\x1f\x8b\x08\x00garbage" and not batch.exists()
    reason = (moved.parent / "reason.txt").read_text()
    assert reason.startswith("b.csv could not be read:") and "gzip-compressed" in reason
    saved = json.loads((moved.parent / "validation.json").read_text())
    assert saved["suite"] == "readable file" and saved["result"]["success"] is False


def test_failed_suite_reason_file_lists_every_failure(tmp_path: Path, toy) -> None:
    context, spec = toy
    batch = tmp_path / "b.csv"
    frame = make_frame(50).drop(columns=["x1"]).assign(colour="purple")
    frame.to_csv(batch, index=False)
    outcome = validate_frame(context, frame, spec)
    moved = quarantine_batch(batch, outcome, tmp_path / "q", stamp="20260101T000000Z")
    lines = (moved.parent / "reason.txt").read_text().splitlines()
    assert lines[0].startswith("b.csv failed suite toy (")
    assert len(lines) == 1 + len(outcome.failures)
    assert any("[x1]" in line for line in lines) and any("[colour]" in line for line in lines)
