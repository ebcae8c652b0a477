from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from runs.index import RunEntry, read_entries, records_by_batch, write_entry, write_index


def _entry(folder: Path, n: int, **changes: object) -> RunEntry:
    run = f"20260101T{n:06d}000000Z"
    fields: dict[str, object] = {
        "run": run,
        "at": f"2026-01-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}+00:00",
        "dataset": "toy",
        "batch": f"b{n}.csv",
        "outcome": "kept production",
        "metric": "roc_auc",
        "value": 0.8,
        "links": {"record": f"decision-{run}.html", "drift_report": f"monitor-{n}.html"},
    }
    entry = RunEntry(**{**fields, **changes})  # type: ignore[arg-type]
    write_entry(entry, folder / f"decision-{run}.json")
    return entry


def test_index_lists_every_run_newest_first_with_relative_links(tmp_path: Path) -> None:
    for n in range(300):
        _entry(tmp_path, n)
    page = write_index(tmp_path).read_text()
    rows = page.count("<tr class=")
    assert rows == 300
    assert page.index("b299.csv") < page.index("b298.csv") < page.index("b0.csv")
    assert 'href="monitor-299.html"' in page and "roc_auc 0.8000" in page
    assert "300 runs, newest first" in page


def test_index_survives_broken_entries_and_records_without_one(tmp_path: Path) -> None:
    _entry(tmp_path, 1)
    (tmp_path / "decision-20260101T000002000000Z.json").write_text('{"run": "x", "at"')
    (tmp_path / "decision-20260101T000002000000Z.md").write_text(
        "# driftloop run 20260101T000002000000Z: rejected\n"
    )
    (tmp_path / "decision-20260101T000003000000Z.json").write_text('["not", "an", "entry"]')
    # A run that stopped after its markdown: no entry, no HTML page.
    (tmp_path / "decision-20260101T000004000000Z.md").write_text("# something else\n")
    entries, skipped = read_entries(tmp_path)
    assert skipped == 2
    assert {e.run for e in entries} == {
        "20260101T000001000000Z",
        "20260101T000002000000Z",
        "20260101T000004000000Z",
    }
    bare = next(e for e in entries if e.run == "20260101T000002000000Z")
    assert bare.outcome == "rejected"
    assert bare.links == {"record": "decision-20260101T000002000000Z.md"}
    page = write_index(tmp_path).read_text()
    assert "2 unreadable run entries left out" in page


def test_an_entry_links_nowhere_outside_its_folder_tree(tmp_path: Path) -> None:
    hostile = {
        "record": "javascript:alert(1)",
        "drift_report": "https://elsewhere.example/x.html",
        "data_docs": "/etc/passwd",
        "model_card": "model-card-1.html",
        "other": "x.html",
    }
    _entry(tmp_path, 5, links=hostile, value=None)
    (entry,), _ = read_entries(tmp_path)
    assert entry.links == {"model_card": "model-card-1.html"}
    assert entry.shown_metric == ""


def test_a_number_that_is_not_one_is_refused(tmp_path: Path) -> None:
    entry = _entry(tmp_path, 6)
    path = tmp_path / f"decision-{entry.run}.json"
    path.write_text(json.dumps({**asdict(entry), "value": "0.9"}))
    assert read_entries(tmp_path) == ([], 1)


def test_records_by_batch_finds_each_batch_record(tmp_path: Path) -> None:
    _entry(tmp_path, 7, batch="b.csv")
    assert records_by_batch(tmp_path) == {
        "b.csv": tmp_path / "decision-20260101T000007000000Z.html"
    }
