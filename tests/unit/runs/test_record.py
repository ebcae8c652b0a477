from __future__ import annotations

import json
from pathlib import Path

from runs.links import Evidence, relative_href, relative_links, tracking_links, tracking_server
from runs.outcome import Outcome
from runs.record import DecisionRecord, render_record, write_record

RUN = "20260101T000000000000Z"


def _record(tmp_path: Path, **changes: object) -> DecisionRecord:
    fields: dict[str, object] = {
        "run_name": RUN,
        "dataset": "toy",
        "batch": "b1.csv",
        "batch_sha256": "a" * 64,
        "rows": 100,
        "outcome": Outcome.PROMOTED,
        "validation": "passed",
        "data_docs": Evidence((tmp_path / "gx" / "docs" / "run 1.html").as_uri()),
        "drift": ("feature drift: none",),
        "drift_report": Evidence(str(tmp_path / "reports" / "monitor-1.html"), "run0001"),
        "model_card": Evidence(str(tmp_path / "reports" / f"model-card-{RUN}.html"), "run0002"),
        "metric": "roc_auc",
        "value": 0.8123,
    }
    return DecisionRecord(**{**fields, **changes})  # type: ignore[arg-type]


def test_record_files_link_the_evidence_relative_to_their_folder(tmp_path: Path) -> None:
    # Before: file:///... links, dead once the reports are served or copied anywhere else.
    text = render_record(_record(tmp_path), relative_links(tmp_path / "reports"))
    assert "Evidently report: [monitor\\-1\\.html](monitor-1.html)" in text
    assert "Data Docs: [run 1\\.html](../gx/docs/run%201.html)" in text
    assert f"(model-card-{RUN}.html)" in text
    assert "file:" not in text and str(tmp_path) not in text


def test_prefect_artifact_links_only_what_resolves_there(tmp_path: Path) -> None:
    record = _record(tmp_path)
    served = render_record(record, tracking_links("https://ci:secret@mlflow.example:5000/"))
    assert "[monitor\\-1\\.html](https://mlflow.example:5000/#/runs/run0001)" in served
    assert "(https://mlflow.example:5000/#/runs/run0002)" in served  # the card's training run
    assert "secret" not in served
    assert f"Data Docs: `{record.data_docs.location}`" in served  # type: ignore[union-attr]
    local = render_record(record, tracking_links("sqlite:///mlflow.db"))
    assert "](" not in local  # a local store has no page to link to: paths as text
    assert f"Evidently report: `{tmp_path / 'reports' / 'monitor-1.html'}`" in local


def test_a_web_page_is_linked_as_it_is(tmp_path: Path) -> None:
    docs = Evidence("https://docs.example/validations/run%201.html")
    for links in (relative_links(tmp_path), tracking_links("sqlite:///x.db")):
        text = render_record(_record(tmp_path, data_docs=docs), links)
        assert "Data Docs: [run 1\\.html](https://docs.example/validations/run%201.html)" in text


def test_a_hostile_location_cannot_break_out_of_its_link(tmp_path: Path) -> None:
    report = Evidence(str(tmp_path / "reports" / "a) [x](javascript:alert(1) <b>.html"))
    text = render_record(
        _record(tmp_path, drift_report=report), relative_links(tmp_path / "reports")
    )
    line = next(ln for ln in text.splitlines() if ln.startswith("Evidently report"))
    assert line.endswith("(a%29%20%5Bx%5D%28javascript%3Aalert%281%29%20%3Cb%3E.html)")


def test_write_record_writes_markdown_html_card_and_index_entry(tmp_path: Path) -> None:
    path = tmp_path / "reports" / f"decision-{RUN}.md"
    write_record(_record(tmp_path), path, card="# Model card\n\n<b>v2</b>")
    page = path.with_suffix(".html").read_text()
    assert "<h1>driftloop run " in page and 'href="monitor-1.html"' in page
    assert 'href="index.html"' in page and f'href="decision-{RUN}.md"' in page
    card = (tmp_path / "reports" / f"model-card-{RUN}.html").read_text()
    assert "&lt;b&gt;v2&lt;/b&gt;" in card and f'href="decision-{RUN}.html"' in card
    entry = json.loads(path.with_suffix(".json").read_text())
    assert entry["links"] == {
        "record": f"decision-{RUN}.html",
        "drift_report": "monitor-1.html",
        "data_docs": "../gx/docs/run%201.html",
        "model_card": f"model-card-{RUN}.html",
    }
    assert (entry["value"], entry["estimated"], entry["outcome"]) == (0.8123, False, "promoted")


def test_an_estimate_is_entered_as_one(tmp_path: Path) -> None:
    path = tmp_path / f"decision-{RUN}.md"
    write_record(_record(tmp_path, value=None, estimated=0.7, model_card=None), path)
    entry = json.loads(path.with_suffix(".json").read_text())
    assert (entry["value"], entry["estimated"]) == (0.7, True)
    assert "model_card" not in entry["links"]
    assert not (tmp_path / f"model-card-{RUN}.html").exists()


def test_links_helpers(tmp_path: Path) -> None:
    assert relative_href(tmp_path / "a b" / "c.html", tmp_path / "out") == "../a%20b/c.html"
    assert tracking_server("http://host:5000/mlflow/") == "http://host:5000/mlflow"
    assert tracking_server("databricks") is None and tracking_server("file:///x") is None
    assert Evidence("s3://bucket/report.html").path is None
