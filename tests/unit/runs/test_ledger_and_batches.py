from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from config.errors import SpecError
from config.spec import DatasetSpec
from factories import make_frame
from runs.batches import (
    build_manifest,
    check_reference,
    find_next_batch,
    read_batch,
    read_manifest,
)
from runs.errors import BatchReadError, LedgerError
from runs.ledger import LedgerEntry, append_entry, processed_hashes, read_ledger, training_entries
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
    with pytest.raises(LedgerError, match="dvc checkout"):
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
        data_docs="file:///gx/index.html",
        drift=["feature drift: 1 of 3"],
        drift_report="file:///reports/monitor.html",
        decision="retrain: forced",
        candidates=[
            CandidateRow("champion", "1", {"roc_auc": 0.8}),
            CandidateRow("challenger", "2", {"roc_auc": 0.85}),
        ],
        promotion="promoted: better",
        registry=["`production`: 1 -> 2"],
        dispatch="dispatched",
    )
    text = render_record(record)
    assert "| champion | 1 | 0.8000 |" in text and "| challenger | 2 | 0.8500 |" in text
    assert "[monitor.html](file:///reports/monitor.html)" in text
    assert "[index.html](file:///gx/index.html)" in text


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
