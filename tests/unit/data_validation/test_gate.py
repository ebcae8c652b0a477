from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from config.spec import DatasetSpec
from data_validation.gate import ensure_suites, open_context, validate_frame
from data_validation.quarantine import quarantine_batch
from data_validation.suite import build_suites
from factories import make_frame


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return make_frame(600, seed=1)


@pytest.fixture
def context(tmp_path: Path, spec: DatasetSpec, reference: pd.DataFrame):
    context = open_context(tmp_path / "gx")
    ensure_suites(context, spec, lambda: reference)
    return context


def test_suite_is_derived_from_spec_and_reference_profile(spec: DatasetSpec, reference) -> None:
    labelled, unlabelled = build_suites(spec, reference)
    kinds = [e.expectation_type for e in labelled.expectations]
    assert kinds.count("expect_column_to_exist") == 5  # t, x1, x2, colour + the label
    colours = next(
        e
        for e in labelled.expectations
        if e.expectation_type == "expect_column_values_to_be_in_set" and e.column == "colour"
    )
    assert sorted(colours.value_set) == ["blue", "green", "red"]
    assert all(getattr(e, "column", None) != "y" for e in unlabelled.expectations)


def test_clean_batch_passes(context, spec: DatasetSpec) -> None:
    outcome = validate_frame(context, make_frame(200, seed=2), spec)
    assert outcome.success and outcome.failures == ()
    assert outcome.docs_url and outcome.docs_url.startswith("file://")


def test_broken_batch_lists_every_failed_expectation(context, spec: DatasetSpec) -> None:
    bad = make_frame(200, seed=3).rename(columns={"x2": "x_two"})
    bad.loc[:20, "x1"] = 1e6  # a unit error far outside the reference range
    bad.loc[:, "colour"] = "purple"
    outcome = validate_frame(context, bad, spec)
    assert not outcome.success
    broken = {(f.column, f.expectation.split("(")[0]) for f in outcome.failures}
    assert ("x2", "expect_column_to_exist") in broken
    assert ("x1", "expect_column_values_to_be_between") in broken
    assert ("colour", "expect_column_values_to_be_in_set") in broken
    assert any("column missing from the batch" in str(f) for f in outcome.failures)


def test_unlabelled_batch_uses_the_unlabelled_suite(context, spec: DatasetSpec) -> None:
    outcome = validate_frame(context, make_frame(100, seed=4).drop(columns=["y"]), spec)
    assert outcome.success and outcome.suite == "toy-unlabelled"


def test_unknown_label_value_fails(context, spec: DatasetSpec) -> None:
    batch = make_frame(100, seed=5)
    batch.loc[:5, "y"] = 7
    outcome = validate_frame(context, batch, spec)
    assert [f.column for f in outcome.failures] == ["y"]


def test_suites_are_stored_once_and_not_rewritten(tmp_path, spec, reference) -> None:
    context = open_context(tmp_path / "gx")
    ensure_suites(context, spec, lambda: reference)
    stored = tmp_path / "gx" / "expectations" / "toy.json"
    before = stored.read_text()
    ensure_suites(open_context(tmp_path / "gx"), spec, lambda: pytest.fail("reference re-read"))
    assert stored.read_text() == before


def test_quarantine_keeps_the_file_byte_for_byte(tmp_path, context, spec) -> None:
    batch = tmp_path / "incoming" / "b.csv"
    batch.parent.mkdir()
    make_frame(50).drop(columns=["x1"]).to_csv(batch, index=False)
    original = batch.read_bytes()
    outcome = validate_frame(context, pd.read_csv(batch), spec)
    moved = quarantine_batch(batch, outcome, tmp_path / "quarantine", stamp="20260101T000000Z")
    assert not batch.exists()
    assert moved.read_bytes() == original
    saved = json.loads((moved.parent / "validation.json").read_text())
    assert saved["failures"] and saved["result"]["success"] is False


def test_big_batch_meets_every_row_rules_on_rows_the_sample_left_out(context, spec) -> None:
    batch = make_frame(2000, seed=6)
    left_out = batch.index.difference(batch.sample(n=200, random_state=0).index)[0]
    batch.loc[left_out, "y"] = 7
    outcome = validate_frame(context, batch, spec, sample_rows=200)
    assert not outcome.success
    assert [(f.column, "sample" in f.detail) for f in outcome.failures] == [("y", False)]


def test_big_batch_failures_found_in_the_sample_say_so(context, spec) -> None:
    batch = make_frame(2000, seed=7)
    batch["colour"] = "purple"
    outcome = validate_frame(context, batch, spec, sample_rows=200)
    failed = {f.column: f.detail for f in outcome.failures}
    assert list(failed) == ["colour"] and failed["colour"].endswith("(in a sample of 200 rows)")
    assert outcome.result["sample_rows"] == 200 and len(outcome.result["validations"]) == 2


def test_every_row_suites_hold_the_checks_without_allowance(tmp_path, spec, reference) -> None:
    names = ensure_suites(open_context(tmp_path / "gx"), spec, lambda: reference)
    assert names == ["toy", "toy-unlabelled", "toy-every-row", "toy-unlabelled-every-row"]
    every_row = open_context(tmp_path / "gx").suites.get("toy-every-row")
    assert {(e.expectation_type, e.column) for e in every_row.expectations} == {
        ("expect_column_values_to_not_be_null", "t"),
        ("expect_column_values_to_be_in_set", "y"),
    }


def test_a_check_broken_in_the_sample_and_on_all_rows_is_reported_once(context, spec) -> None:
    batch = make_frame(2000, seed=8)
    batch.loc[::10, "y"] = 7  # 200 rows: the sample holds some of them too
    outcome = validate_frame(context, batch, spec, sample_rows=200)
    assert [(f.column, "sample" in f.detail) for f in outcome.failures] == [("y", False)]
    assert "200 unexpected values" in outcome.failures[0].detail


def test_a_suite_file_cut_off_is_set_aside_and_derived_again(
    tmp_path, spec: DatasetSpec, reference, caplog
) -> None:
    # Before: a truncated suite file failed every run with JSONDecodeError.
    context = open_context(tmp_path / "gx")
    ensure_suites(context, spec, lambda: reference)
    suite = tmp_path / "gx" / "expectations" / f"{spec.name}.json"
    suite.write_text(suite.read_text()[:300])
    again = open_context(tmp_path / "gx")
    ensure_suites(again, spec, lambda: reference)
    assert "set aside" in caplog.text and suite.with_name(f"{suite.name}.broken").is_file()
    assert validate_frame(again, reference.head(100), spec).success
