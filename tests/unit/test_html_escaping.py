"""Every page driftloop writes shows hostile batch values as text, checked in a headless browser.

Each hostile value, if the page let it run, sets the page's title to MARKER. The DOM the browser
holds once the page's scripts have run must have no such title and must show the values as text.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import mistune
import pandas as pd
import pytest
from browsing import find_browser, rendered

from config.spec import DatasetSpec
from data_validation.gate import (
    FailedExpectation,
    ValidationOutcome,
    ensure_suites,
    open_context,
    validate_frame,
)
from factories import make_frame
from model_monitoring.drift import monitor_batch
from model_monitoring.measures import DriftTests
from runs.index import write_index
from runs.links import Evidence, relative_links
from runs.outcome import Outcome
from runs.record import DecisionRecord, render_record, write_record
from runs.timeline import write_timeline

pytestmark = pytest.mark.slow

MARKER = "PWNED"
HOSTILE = (
    f"</script><script>document.title=/{MARKER}/.source</script>",
    f"<img src=x onerror=\"document.title='{MARKER}'\">",
)
INLINE_DATA = re.compile(r"^    var metric_[0-9a-f]{32} = (.*);$", re.MULTILINE)


@pytest.fixture(scope="module")
def browser() -> str:
    return find_browser()


@pytest.fixture
def batch() -> pd.DataFrame:
    """A batch whose first rows hold the hostile colours: few enough for the gate to pass it."""
    frame = make_frame(400, seed=2)
    frame.loc[: len(HOSTILE) - 1, "colour"] = HOSTILE
    return frame


def script_ran(dom: str) -> bool:
    return f"<title>{MARKER}</title>" in dom


def shown_as_text(dom: str, value: str) -> bool:
    # The browser writes text nodes back with <, > and & escaped (quotes as they are).
    return html.escape(value, quote=False) in dom


def strings(data: Any) -> Iterator[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from strings(value)


def test_evidently_report_runs_no_script_a_batch_value_carries(
    browser: str, batch: pd.DataFrame, spec: DatasetSpec, tmp_path: Path
) -> None:
    page = tmp_path / "reports" / "monitor.html"
    monitor_batch(
        make_frame(600, seed=1),
        batch,
        spec,
        tests=DriftTests(),
        watch=(),
        scores=None,
        report_path=page,
    )
    dom = rendered(browser, page, tmp_path)
    assert not script_ran(dom)
    assert "Drifted Columns" in dom  # the dashboard was drawn from the page's data
    written = page.read_text(encoding="utf-8")
    assert not any(value in written for value in HOSTILE)
    inline = INLINE_DATA.search(written)
    assert inline is not None
    assert set(HOSTILE) <= set(strings(json.loads(inline[1])))  # the data holds the same text


def test_data_docs_show_the_values_a_passed_batch_holds_as_text(
    browser: str, batch: pd.DataFrame, spec: DatasetSpec, tmp_path: Path
) -> None:
    context = open_context(tmp_path / "gx")
    ensure_suites(context, spec, lambda: make_frame(600, seed=1))
    outcome = validate_frame(context, batch, spec)
    assert outcome.success and outcome.docs_url  # within the unseen-category allowance
    dom = rendered(browser, Path(url2pathname(urlparse(outcome.docs_url).path)), tmp_path)
    assert not script_ran(dom)
    assert all(shown_as_text(dom, value) for value in HOSTILE)


def test_timeline_page_shows_batch_names_and_reasons_as_text(browser: str, tmp_path: Path) -> None:
    rows = [
        {
            "batch": HOSTILE[1],
            "rows": 100,
            "decision": "rejected",
            "reasons": (HOSTILE[0],),
            "outcome": "rejected",
        }
    ]
    page = write_timeline(rows, tmp_path, policy=HOSTILE[0])
    dom = rendered(browser, page, tmp_path)
    assert not script_ran(dom)
    assert all(shown_as_text(dom, value) for value in HOSTILE)


def hostile_record(tmp_path: Path) -> DecisionRecord:
    """A rejected run whose batch, columns, failures and evidence names are all hostile."""
    failure = FailedExpectation(
        "expect_column_values_to_be_in_set", HOSTILE[1], f"2 unexpected values, e.g. {HOSTILE}"
    )
    rejected = ValidationOutcome(False, "toy", 3, (failure,), None, {})
    return DecisionRecord(
        run_name="r1",
        dataset=HOSTILE[0],
        batch=HOSTILE[1],
        batch_sha256="f" * 64,
        rows=400,
        outcome=Outcome.REJECTED,
        validation=rejected.describe(),
        unnamed_columns=HOSTILE,
        data_docs=Evidence(str(tmp_path / "gx" / f"{HOSTILE[1]}.html")),
        drift=(f"feature drift in {HOSTILE[0]}",),
        drift_report=Evidence(str(tmp_path / "reports" / f"{HOSTILE[1]}.html"), HOSTILE[1]),
        dispatch=f"`{HOSTILE[1]}` refused\n{HOSTILE[0]}",
    )


def test_decision_record_markdown_renders_values_as_text(browser: str, tmp_path: Path) -> None:
    record = hostile_record(tmp_path)
    # Raw HTML passes through, as in a markdown viewer that does not sanitize.
    markdown = render_record(record, relative_links(tmp_path / "reports"))
    body = mistune.create_markdown(escape=False)(markdown)
    page = tmp_path / "record.html"
    page.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>record</title></head>"
        f"<body>{body}</body></html>",
        encoding="utf-8",
    )
    dom = rendered(browser, page, tmp_path)
    assert not script_ran(dom)
    assert all(shown_as_text(dom, value) for value in HOSTILE)


def test_html_record_and_run_index_show_values_as_text(browser: str, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    record = write_record(hostile_record(tmp_path), reports / "decision-r1.md")
    index = write_index(reports)
    for page in (record.with_suffix(".html"), index):
        dom = rendered(browser, page, tmp_path)
        assert not script_ran(dom)
        assert shown_as_text(dom, HOSTILE[1])  # the batch, in both
    dom = rendered(browser, index, tmp_path)
    assert shown_as_text(dom, HOSTILE[0])  # the dataset
