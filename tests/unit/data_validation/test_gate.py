from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest

from config.spec import DatasetSpec
from data_validation.docs import as_text
from data_validation.gate import ensure_suites, open_context, validate_frame
from data_validation.quarantine import quarantine_batch
from data_validation.suite import build_suites, variation_rules
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


def test_data_docs_render_with_the_text_views_and_the_config_is_saved_once(tmp_path) -> None:
    open_context(tmp_path / "gx")
    config = tmp_path / "gx" / "great_expectations.yml"
    saved = config.read_text()
    assert "class_name: TextPageView" in saved and "class_name: TextIndexPageView" in saved
    open_context(tmp_path / "gx")
    assert config.read_text() == saved


def test_text_view_escapes_plain_values_and_keeps_content_blocks() -> None:
    block = {"content_block_type": "string_template", "string_template": {"template": "x"}}
    assert as_text("<b>&") == "&lt;b&gt;&amp;"
    assert as_text(["<i>", block, 3]) == ["&lt;i&gt;", block, "3"]
    assert as_text(block) is block and as_text(None) is None


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


def test_a_sensor_stuck_at_zero_is_rejected_with_its_reason(context, spec: DatasetSpec) -> None:
    # Before: x1 at 0.0 in every row passed (0.0 is inside its range), the model was promoted
    # and the slice guard on x1 saw one group.
    outcome = validate_frame(context, make_frame(200, seed=9).assign(x1=0.0), spec)
    assert not outcome.success
    [stuck] = outcome.failures
    assert stuck.column == "x1"
    assert stuck.expectation == "expect_column_unique_value_count_to_be_between(min_value=2)"
    assert stuck.detail.startswith("all 200 values are 0.0; Catches a stuck value: the reference")


def test_a_category_stuck_at_one_known_value_is_rejected(context, spec: DatasetSpec) -> None:
    outcome = validate_frame(context, make_frame(200, seed=10).assign(colour="red"), spec)
    assert [(f.column, f.expectation.split("(")[0]) for f in outcome.failures] == [
        ("colour", "expect_column_unique_value_count_to_be_between")
    ]


def test_batches_no_longer_than_the_reference_stretch_may_hold_one_value(
    context, spec: DatasetSpec, reference: pd.DataFrame
) -> None:
    # A one-row batch cannot vary; nor need colour in a batch as short as twice the longest
    # stretch of one colour the reference had.
    [colour] = [r for r in variation_rules(spec, reference) if r.column == "colour"]
    assert validate_frame(context, make_frame(1, seed=11), spec).success
    short = make_frame(colour.longer_than_rows, seed=12).assign(colour="red")
    assert validate_frame(context, short, spec).success
    longer = make_frame(colour.longer_than_rows + 1, seed=12).assign(colour="red")
    assert not validate_frame(context, longer, spec).success


def test_a_month_date_part_in_monthly_batches_passes_but_a_stuck_reading_does_not(
    tmp_path: Path, daily_spec: DatasetSpec, daily
) -> None:
    context = open_context(tmp_path / "gx")
    ensure_suites(context, daily_spec, lambda: daily("2023-01-01", "2025-01-01"))
    months = pd.date_range("2025-01-01", "2026-01-01", freq="MS")
    for seed, (start, end) in enumerate(itertools.pairwise(months)):
        outcome = validate_frame(context, daily(str(start), str(end), seed=seed), daily_spec)
        assert outcome.success, [str(f) for f in outcome.failures]
    hourly = daily("2025-01-01", "2025-02-01", freq="h")  # 744 rows of one month
    assert validate_frame(context, hourly, daily_spec).success
    assert validate_frame(context, daily("2025-01-01", "2025-04-01"), daily_spec).success
    stuck = daily("2025-03-01", "2025-04-01").assign(temp=0.0)
    failed = validate_frame(context, stuck, daily_spec).failures
    assert [f.column for f in failed] == ["temp"]


def test_data_docs_list_the_validation_under_the_batch_file_name(
    context, spec: DatasetSpec
) -> None:
    batch = make_frame(900, seed=12)
    outcome = validate_frame(context, batch, spec, sample_rows=300, batch="batch 07 ü.csv")
    assert outcome.docs_url and "/batch%2007%20%C3%BC.csv/" in outcome.docs_url
    site = Path(context.root_directory) / "uncommitted" / "data_docs" / "local_site"
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "batch 07 ü.csv" in index and "__none__" not in index
    pages = list((site / "validations").rglob("*.html"))
    assert len(pages) == 2  # the sample and the every-row check, one run
    assert all("batch 07 ü.csv" in p.parent.parent.name for p in pages)
