from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from config.errors import ConfigError
from runs.chart import plotted_values
from runs.index import RunEntry, write_entry, write_index
from runs.timeline import clear_replay, timeline_frame, write_timeline

ROWS = [
    {
        "batch": "b1.csv",
        "rows": 100,
        "metric": "roc_auc",
        "value": None,
        "decision": "retrain",
        "reasons": ("no production model yet",),
        "signals": (),
        "retrained": True,
        "promoted": True,
        "train_rows": 80,
        "outcome": "promoted",
    },
    {
        "batch": "b2.csv",
        "rows": 0,
        "decision": "rejected",
        "reasons": ("[x] missing",),
        "outcome": "rejected",
    },
    {
        "batch": "b3.csv",
        "rows": 100,
        "metric": "roc_auc",
        "value": None,
        "estimated": 0.8,
        "decision": "keep",
        "reasons": (),
        "signals": (),
        "outcome": "kept production",
    },
    {
        "batch": "b4.csv",
        "rows": 100,
        "metric": "roc_auc",
        "value": 0.61,
        "decision": "retrain",
        "reasons": ("realized metric dropped",),
        "signals": ("realized_drop",),
        "retrained": True,
        "promoted": False,
        "train_rows": 160,
        "outcome": "challenger lost",
    },
]


def test_timeline_writes_csv_plot_and_page(tmp_path: Path) -> None:
    page = write_timeline(ROWS, tmp_path, policy="default")
    frame = pd.read_csv(tmp_path / "timeline.csv")
    assert list(frame.columns[:4]) == ["batch", "rows", "metric", "value"]
    assert {"decision", "reasons", "retrained", "promoted", "train_rows"} <= set(frame.columns)
    assert frame["retrained"].tolist() == [True, False, False, True]
    assert frame.loc[3, "signals"] == "realized_drop"
    assert (tmp_path / "timeline.png").read_bytes()[:4] == b"\x89PNG"
    text = page.read_text()
    assert "data:image/png;base64," in text and "realized metric dropped" in text
    assert "2 retrains, 1 promotions, 1 rejected, 240 rows trained" in text
    assert "is an ESTIMATE" in text and "not pure concept drift" in text


def test_a_new_replay_clears_only_what_the_last_one_wrote(tmp_path: Path) -> None:
    # Before: a second replay into the same folder found every batch in the first one's
    # ledger and skipped them all as duplicates.
    out, batches = tmp_path / "out", tmp_path / "history"
    batches.mkdir()
    (out / "reports").mkdir(parents=True)
    (out / "ledger.jsonl").write_text("{}\n")
    (out / "notes.txt").write_text("mine")
    (out / "timeline.csv").write_text("batch\n")  # an earlier replay's
    assert clear_replay(out, keep=batches) == ["ledger.jsonl", "reports", "timeline.csv"]
    assert sorted(p.name for p in out.iterdir()) == [".driftloop-replay", "notes.txt"]
    (out / "incoming").mkdir()
    (out / "ledger.jsonl").write_text("{}\n")
    with pytest.raises(ConfigError, match="does not contain the batches"):
        clear_replay(out, keep=out / "incoming")
    assert (out / "ledger.jsonl").exists()  # nothing removed before every check passed


def test_a_replay_into_a_folder_no_replay_wrote_removes_nothing(tmp_path: Path) -> None:
    # `driftloop simulate --out .` would have removed the project's registry and GX suites.
    (tmp_path / "mlflow.db").write_bytes(b"the project's registry")
    (tmp_path / "great_expectations").mkdir()
    with pytest.raises(ConfigError, match=r"holds mlflow\.db, great_expectations but no replay"):
        clear_replay(tmp_path, keep=tmp_path / "elsewhere")
    assert (tmp_path / "mlflow.db").exists() and (tmp_path / "great_expectations").is_dir()
    assert clear_replay(tmp_path / "new", keep=tmp_path / "elsewhere") == []
    assert (tmp_path / "new" / ".driftloop-replay").is_file()


def test_timeline_links_each_batch_to_its_record(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "decision-1.md").write_text("# driftloop run 1: promoted\n")
    (reports / "decision-1.html").write_text("<p>record</p>")
    # A rejected batch's run ends in an error, so its row has no record: the entry has it.
    entry = RunEntry(
        run="2", at="2026-01-01T00:00:02", batch="b2.csv", links={"record": "r%202.html"}
    )
    write_entry(entry, reports / "decision-2.json")
    (reports / "r 2.html").write_text("<p>rejected</p>")
    write_index(reports)
    rows = [{**ROWS[0], "record": str(reports / "decision-1.md")}, *ROWS[1:]]
    page = write_timeline(rows, tmp_path, policy="default").read_text()
    assert 'href="reports/decision-1.html"' in page
    assert 'href="reports/r%202.html"' in page
    assert 'href="reports/index.html"' in page
    assert pd.read_csv(tmp_path / "timeline.csv")["record"].notna().sum() == 2


def test_the_plotted_line_breaks_where_nothing_was_measured() -> None:
    # Before: the line joined the measured batches straight across rejected ones.
    frame = timeline_frame(
        [
            {"batch": "a", "value": 0.8, "outcome": "kept production"},
            {"batch": "b", "value": None, "outcome": "rejected"},
            {"batch": "c", "value": 0.7, "outcome": "duplicate"},
            {"batch": "d", "value": 0.75, "outcome": "promoted"},
        ]
    )
    values = plotted_values(frame)
    assert values.isna().tolist() == [False, True, True, False]
