from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd
import pytest

from config.errors import SpecError
from config.spec import DatasetSpec
from factories import make_frame
from runs.batches import (
    build_manifest,
    check_reference,
    copy_batches,
    find_next_batch,
    list_batches,
    read_batch,
    read_manifest,
)
from runs.errors import BatchReadError, LedgerError
from runs.ledger import (
    LedgerEntry,
    accepted_entries,
    append_entry,
    approval_entry,
    current_regime,
    history_files,
    pending_batch,
    processed_hashes,
    read_ledger,
    training_entries,
)
from runs.links import Evidence, relative_links
from runs.record import CandidateRow, DecisionRecord, render_record


def write_batches(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"batch-{i:02d}.csv"
        make_frame(20, seed=i).to_csv(path, index=False)
        paths.append(path)
    return paths


def entry(path: Path, sha: str, status="accepted", labelled=True) -> LedgerEntry:
    return LedgerEntry(
        batch=path.name,
        sha256=sha,
        status=status,
        labelled=labelled,
        rows=20,
        path=str(path),
        run_id="r",
        at="2026-01-01T00:00:00+00:00",
    )


def test_next_batch_is_the_first_unprocessed_by_name(tmp_path: Path) -> None:
    paths = write_batches(tmp_path / "in", 3)
    first = find_next_batch(tmp_path / "in", set())
    assert first is not None and first.path == paths[0]
    second = find_next_batch(tmp_path / "in", {first.sha256})
    assert second is not None and second.path == paths[1]


def test_same_content_under_a_new_name_is_not_processed_twice(tmp_path: Path) -> None:
    [path] = write_batches(tmp_path / "in", 1)
    done = find_next_batch(tmp_path / "in", set())
    (tmp_path / "in" / "copy.csv").write_bytes(path.read_bytes())
    assert find_next_batch(tmp_path / "in", {done.sha256}) is None


def test_ledger_round_trips_and_selects_training_batches(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    a, b, c = (tmp_path / n for n in ("a.csv", "b.csv", "c.csv"))
    append_entry(ledger, entry(a, "1"))
    append_entry(ledger, entry(b, "2", status="quarantined"))
    append_entry(ledger, entry(c, "3", labelled=False))
    entries = read_ledger(ledger)
    assert processed_hashes(entries) == {"1", "2", "3"}
    assert [e.batch for e in training_entries(entries)] == ["a.csv"]


def test_a_monitored_batch_is_skipped_by_monitoring_runs_only(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    a, b = write_batches(tmp_path / "in", 2)
    append_entry(ledger, entry(a, "1"))
    append_entry(ledger, entry(b, "2", status="monitored"))
    entries = read_ledger(ledger)
    assert processed_hashes(entries) == {"1"}
    assert processed_hashes(entries, monitoring=True) == {"1", "2"}
    assert [e.batch for e in training_entries(entries)] == ["batch-00.csv"]


def test_corrupt_ledger_line_is_reported_with_its_location(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text('{"batch": "a"}\n')
    with pytest.raises(LedgerError, match=r"ledger\.jsonl:1"):
        read_ledger(ledger)


def test_manifest_detects_changed_training_data(tmp_path: Path) -> None:
    paths = write_batches(tmp_path / "in", 2)
    manifest = build_manifest(paths, tmp_path)
    assert manifest[0].path == "in/batch-00.csv"
    assert len(read_manifest(manifest, tmp_path)) == 40
    tagged = read_manifest(manifest, tmp_path, source_column="src")
    assert tagged["src"].tolist() == [manifest[0].sha256] * 20 + [manifest[1].sha256] * 20
    paths[1].write_text(paths[1].read_text().replace("red", "RED"))
    with pytest.raises(LedgerError, match=r"driftloop data VERSION` says where"):
        read_manifest(manifest, tmp_path)


def test_manifest_takes_frames_the_run_holds_instead_of_reading_them(tmp_path: Path) -> None:
    paths = write_batches(tmp_path / "in", 2)
    manifest = build_manifest(paths, tmp_path)
    held = read_batch(paths[0]).assign(note="held")
    paths[0].unlink()  # it would fail the hash check if it were read
    frame = read_manifest(manifest, tmp_path, known={manifest[0].sha256: held})
    assert frame["note"].eq("held").sum() == 20 and len(frame) == 40
    alone = read_manifest(manifest[:1], tmp_path, known={manifest[0].sha256: held})
    assert alone is held  # one file: not copied by a concatenation


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02binary", b"<html>502 Bad Gateway</html>"])
def test_unreadable_batches_raise_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "b.parquet"
    path.write_bytes(content)
    with pytest.raises(BatchReadError, match=r"cannot read batch b\.parquet"):
        read_batch(path)


def test_record_shows_the_champion_challenger_table() -> None:
    record = DecisionRecord(
        run_name="r1",
        dataset="toy",
        batch="b.csv",
        batch_sha256="f" * 64,
        rows=10,
        outcome="promoted",
        validation="passed",
        data_docs=Evidence("/gx/index.html"),
        drift=["feature drift: 1 of 3"],
        drift_report=Evidence("/reports/monitor.html"),
        decision="retrain: forced",
        candidates=[
            CandidateRow("champion", "1", {"roc_auc": 0.8}),
            CandidateRow("challenger", "2", {"roc_auc": 0.85}),
        ],
        promotion="promoted: better",
        registry=["`production`: 1 -> 2"],
        dispatch="dispatched",
    )
    text = render_record(record, relative_links(Path("/reports")))
    assert "| champion | 1 | 0.8000 |" in text and "| challenger | 2 | 0.8500 |" in text
    assert "(monitor.html)" in text  # beside the record
    assert "(../gx/index.html)" in text


def test_record_quotes_names_and_escapes_html_in_prose() -> None:
    record = DecisionRecord(
        run_name="r1",
        dataset="toy",
        batch="a`b.csv",
        batch_sha256="f" * 64,
        rows=10,
        outcome="rejected",
        validation="FAILED suite `toy`:\n\n- [colour] e.g. ['<img src=x>']",
        unnamed_columns=("note\n<script>",),
    )
    text = render_record(record, relative_links(Path("/reports")))
    assert "- batch: ``a`b.csv`` (10 rows" in text
    assert "`note <script>`" in text  # one code span, on one line
    assert "FAILED suite `toy`:" in text and r"- \[colour] e.g. \['\<img src=x>']" in text


def test_an_explicit_batch_outside_incoming_is_refused(tmp_path: Path) -> None:
    write_batches(tmp_path / "in", 1)
    outside = tmp_path / "elsewhere.csv"
    make_frame(5).to_csv(outside, index=False)
    with pytest.raises(BatchReadError, match="outside the dataset's incoming folder"):
        find_next_batch(tmp_path / "in", set(), explicit=outside)
    sneaky = tmp_path / "in" / ".." / "elsewhere.csv"
    with pytest.raises(BatchReadError, match="outside"):
        find_next_batch(tmp_path / "in", set(), explicit=sneaky)


def test_a_spec_naming_a_column_the_reference_lacks_fails_with_its_name(tmp_path) -> None:
    pd.DataFrame({"temperature": [1.0], "rain": [0], "day": ["2020-01-01"]}).to_csv(
        tmp_path / "ref.csv", index=False
    )
    fields = {"name": "w", "task": "binary", "target": "rain", "reference": tmp_path / "ref.csv"}
    spec = DatasetSpec.model_validate(
        fields
        | {
            "incoming": tmp_path,
            "features": {"numeric": ["temperature", "dewpoint"]},
            "derived": {"month": {"date_part": "day"}, "hours": {"between": ["day", "ends"]}},
        }
    )
    with pytest.raises(
        SpecError, match=r"lacks 'dewpoint' \(features.numeric\), 'ends' \(read by derived.hours\)"
    ):
        check_reference(spec)
    with pytest.raises(SpecError, match="not found: fix `reference`"):
        check_reference(spec.model_copy(update={"reference": tmp_path / "nope.csv"}))


def _entry(name: str) -> LedgerEntry:
    return LedgerEntry(name, name * 8, "accepted", True, 10, f"in/{name}.csv", "r", "now")


def test_a_last_line_cut_off_mid_write_is_dropped_and_the_ledger_works_on(tmp_path, caplog) -> None:
    ledger = tmp_path / "ledger.jsonl"
    append_entry(ledger, _entry("a"))
    append_entry(ledger, _entry("b"))
    text = ledger.read_text()
    ledger.write_text(text[: len(text) - 25])  # the crash: b's line is half written
    assert [e.batch for e in read_ledger(ledger)] == ["a"]
    assert "cut off mid-write" in caplog.text
    append_entry(ledger, _entry("c"))
    assert [e.batch for e in read_ledger(ledger)] == ["a", "c"]


def test_an_edited_line_in_the_middle_is_still_an_error(tmp_path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    append_entry(ledger, _entry("a"))
    ledger.write_text(ledger.read_text() + "not json\n")
    append_entry(ledger, _entry("b"))
    with pytest.raises(LedgerError, match=r"ledger.jsonl:2 is not a ledger entry"):
        read_ledger(ledger)


def test_a_last_entry_without_its_newline_is_kept_and_the_next_goes_on_its_own_line(
    tmp_path,
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    append_entry(ledger, _entry("a"))
    ledger.write_text(ledger.read_text().rstrip("\n"))
    append_entry(ledger, _entry("b"))
    assert [e.batch for e in read_ledger(ledger)] == ["a", "b"]


def test_links_out_of_incoming_and_fifos_are_never_batches(tmp_path) -> None:
    incoming, outside = tmp_path / "incoming", tmp_path / "secret"
    incoming.mkdir()
    outside.mkdir()
    make_frame(20).to_csv(outside / "private.csv", index=False)
    make_frame(20, seed=2).to_csv(incoming / "b1.csv", index=False)
    (incoming / "b0-link.csv").symlink_to(outside / "private.csv")
    (incoming / "b2-inside-link.csv").symlink_to(incoming / "b1.csv")
    os.mkfifo(incoming / "b3-fifo.csv")
    (incoming / "b4-zero.csv").symlink_to("/dev/zero")
    assert [p.name for p in list_batches(incoming)] == ["b1.csv", "b2-inside-link.csv"]
    with pytest.raises(BatchReadError, match="outside the incoming folder"):
        find_next_batch(incoming, set(), explicit=incoming / "b0-link.csv")
    with pytest.raises(BatchReadError, match="not a regular file"):
        find_next_batch(incoming, set(), explicit=incoming / "b3-fifo.csv")


def test_a_replay_never_recreates_a_folder_holding_its_batches(tmp_path) -> None:
    batches = tmp_path / "out" / "incoming"
    batches.mkdir(parents=True)
    make_frame(20).to_csv(batches / "b1.csv", index=False)
    for target in (batches, tmp_path / "out"):
        with pytest.raises(BatchReadError, match="choose an output folder"):
            copy_batches(batches, target)
    assert (batches / "b1.csv").is_file()
    assert [p.name for p in copy_batches(batches, tmp_path / "replay")] == ["b1.csv"]


def test_two_datasets_share_a_ledger_and_never_skip_each_others_batches(tmp_path) -> None:
    ledger, incoming = tmp_path / "ledger.jsonl", tmp_path / "in"
    incoming.mkdir()
    make_frame(20).to_csv(incoming / "b1.csv", index=False)
    done = find_next_batch(incoming, set())
    assert done is not None
    entry = LedgerEntry("b1.csv", done.sha256, "accepted", True, 20, "in/b1.csv", "r", "now")
    append_entry(ledger, replace(entry, dataset="rainfall"))
    assert pending_batch(ledger, incoming, explicit=None, dataset="rainfall") is None
    assert pending_batch(ledger, incoming, explicit=None, dataset="orders") == done
    append_entry(ledger, replace(entry, dataset=""))  # written before datasets were named
    assert pending_batch(ledger, incoming, explicit=None, dataset="orders") is None


def test_a_file_still_arriving_is_left_for_a_later_run(tmp_path) -> None:
    # Before: the first 700 of 1,659 rows were accepted, then the complete file under the same
    # name, and the 700 rows counted twice.
    incoming = tmp_path / "in"
    incoming.mkdir()
    make_frame(20).to_csv(incoming / "b1.csv", index=False)
    assert find_next_batch(incoming, set(), settle_seconds=60) is None
    old = time.time() - 120
    os.utime(incoming / "b1.csv", (old, old))
    assert find_next_batch(incoming, set(), settle_seconds=60) is not None
    assert find_next_batch(incoming, set(), ready_marker=".ready") is None
    (incoming / "b1.csv.ready").touch()
    found = find_next_batch(incoming, set(), ready_marker=".ready")
    assert found is not None and found.path.name == "b1.csv"
    assert [p.name for p in list_batches(incoming)] == ["b1.csv"]  # a marker is no batch


def test_a_torn_tail_after_crlf_lines_is_cut_at_its_own_start(tmp_path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    lines = [json.dumps(asdict(_entry(n)), sort_keys=True) for n in ("a", "b")]
    ledger.write_bytes(("\r\n".join(lines) + "\r\n").encode() + b'{"batch": "c", "sha')
    assert [e.batch for e in read_ledger(ledger)] == ["a", "b"]
    append_entry(ledger, _entry("d"))
    assert [e.batch for e in read_ledger(ledger)] == ["a", "b", "d"]


def test_a_monitoring_run_does_not_cut_a_later_batchs_history(tmp_path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    for name, status in (("a", "monitored"), ("b", "monitored"), ("a", "accepted")):
        append_entry(ledger, replace(_entry(name), status=status))
    paths = history_files(ledger, tmp_path / "ref.csv", before="b" * 8)
    assert paths == [tmp_path / "ref.csv", Path("in/a.csv")]


def test_files_after_one_still_arriving_wait_behind_it(tmp_path) -> None:
    incoming = tmp_path / "in"
    incoming.mkdir()
    for name in ("b1.csv", "b2.csv"):
        make_frame(20, seed=len(name)).to_csv(incoming / name, index=False)
    old = time.time() - 120
    os.utime(incoming / "b2.csv", (old, old))  # b2 settled, b1 still growing
    assert find_next_batch(incoming, set(), settle_seconds=60) is None


def test_an_approved_release_starts_its_regime_without_counting_the_batch_twice() -> None:
    entries = [_entry("a"), _entry("b"), _entry("c")]
    assert current_regime(entries) == (False, entries)
    assert approval_entry(entries, "z" * 8, actor="ana", at="t", note="n") is None
    marker = approval_entry(entries, "b" * 8, actor="ana", at="later", note="v2 approved")
    assert marker is not None
    assert (marker.batch, marker.status, marker.regime_start, marker.actor) == (
        "b",
        "approved",
        True,
        "ana",
    )
    with_marker = [*entries, marker]
    assert current_regime(with_marker) == (True, entries[1:])
    assert accepted_entries(with_marker) == entries  # the policy's history is unchanged
