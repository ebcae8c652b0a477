"""Every page a run writes opens in a headless browser, and every link on it leads to a file.

The pages come from a real Evidently report and real Data Docs, through the same code a run
ends with; links are read from the DOM the browser built and resolved against the page.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import pytest
from browsing import find_browser, links_in, rendered

from config.settings import Settings
from config.spec import DatasetSpec
from data_validation.gate import ensure_suites, open_context, validate_frame
from factories import make_frame
from model_monitoring.drift import monitor_batch
from model_monitoring.measures import DriftTests, Measured
from pipeline.outcomes import Run, _record
from registry.models import RegisteredVersion
from runs.batches import BatchFile
from runs.index import write_index
from runs.outcome import Outcome
from runs.record import write_record
from runs.timeline import write_timeline

pytestmark = pytest.mark.slow

CARD = "# Model card: toy v2\n\n| metric | value |\n|---|---|\n| roc_auc | 0.81 |\n"
OUTCOMES = (Outcome.PROMOTED, Outcome.KEPT, Outcome.REJECTED)


@pytest.fixture(scope="module")
def browser() -> str:
    return find_browser()


def _run_pages(spec: DatasetSpec, root: Path) -> tuple[list[Path], list[dict[str, object]]]:
    """Three runs' records, as `finish` writes them: one promoted (with a card), two not."""
    reference, batch = make_frame(600, seed=1), make_frame(400, seed=2)
    context = open_context(root / "great_expectations")
    ensure_suites(context, spec, lambda: reference)
    validation = validate_frame(context, batch, spec)
    reports = root / "reports"
    report = reports / "monitor-20260101T000000000000Z.html"
    drift = monitor_batch(
        reference, batch, spec, tests=DriftTests(), watch=(), scores=None, report_path=report
    )
    pages: list[Path] = []
    rows: list[dict[str, object]] = []
    for n, outcome in enumerate(OUTCOMES, start=1):
        run = Run(Settings(), spec, BatchFile(root / "incoming" / f"b{n}.csv", f"{n}" * 64))
        run.name = f"2026010{n}T000000000000Z"
        run.validated(batch, validation)
        run.measured = Measured(drift, report, (), "roc_auc", (), run_id="0123abcd")
        card = None
        if outcome is Outcome.PROMOTED:
            run.challenger = RegisteredVersion("toy", "2", "4567cdef", {"roc_auc": 0.81}, {})
            card = reports / f"model-card-{run.name}.html"
        record = reports / f"decision-{run.name}.md"
        write_record(_record(run, outcome, card), record, card=CARD if card else None)
        pages += [record.with_suffix(".html"), *([card] if card else [])]
        rows.append({"batch": run.batch.name, "outcome": str(outcome), "record": str(record)})
    return [write_index(reports), *pages], rows


def _target(page: Path, href: str) -> Path | None:
    """The file `href` on `page` leads to (None for data embedded in the page)."""
    parts = urlsplit(href)
    if parts.scheme == "data":
        return None
    assert not parts.scheme and not parts.netloc, f"{page.name}: {href} is not relative"
    resolved = urlsplit(urljoin(page.resolve().as_uri(), href))
    return Path(url2pathname(resolved.path))


def test_every_link_on_the_index_records_card_and_timeline_leads_to_a_file(
    browser: str, spec: DatasetSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the run's paths are relative to where it runs
    pages, rows = _run_pages(spec, tmp_path)
    pages.append(write_timeline(rows, tmp_path, policy="default"))
    checked: dict[str, set[str]] = {}
    for page in pages:
        dom = rendered(browser, page, tmp_path)
        assert "<title>driftloop" in dom and "<h1>" in dom, f"{page.name} did not render"
        assert "<table>" in dom or page.name.startswith("decision-")  # a list of runs or batches
        for href in links_in(dom):
            target = _target(page, href)
            if target is not None:
                assert target.is_file(), f"{page.name}: {href} leads to no file ({target})"
                checked.setdefault(page.name, set()).add(target.name)
    index, timeline = checked["index.html"], checked["timeline.html"]
    assert len(index) == 6  # 3 records, the report, the Data Docs page, the card
    assert "monitor-20260101T000000000000Z.html" in index
    assert {f"decision-2026010{n}T000000000000Z.html" for n in (1, 2, 3)} <= timeline
    assert "index.html" in timeline
    promoted = checked["decision-20260101T000000000000Z.html"]
    assert {"index.html", "model-card-20260101T000000000000Z.html"} <= promoted
    assert sum(map(len, checked.values())) >= 20
