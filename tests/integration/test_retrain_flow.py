"""The retraining flow end to end: real GE, Evidently, XGBoost, MLflow (SQLite) and dispatch."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import mlflow
import pytest
from flow_project import Project, toy_project
from prefect.client.orchestration import get_client

from config.errors import SpecError
from data_validation.errors import DataValidationError
from factories import make_frame
from runs.ledger import read_ledger

T = TypeVar("T")

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "ghp_integration_secret_0123456789"


@pytest.fixture(scope="module")
def project(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with toy_project(tmp_path_factory.mktemp("project"), TOKEN) as built:
        yield built


def test_first_model_is_promoted_and_dispatched(project: Project) -> None:
    summary = project.run("b1-clean.csv")
    assert summary.outcome == "promoted" and summary.production_version == "1"
    assert project.aliases() == {"production": "1", "challenger": "1"}
    [call] = project.github.received
    assert call["path"] == "/repos/acme/model/dispatches"
    assert call["body"]["client_payload"]["model_version"] == "1"
    model = mlflow.pyfunc.load_model("models:/toy@production")
    scores = model.predict(make_frame(20, seed=9).drop(columns=["y"]))
    assert len(scores) == 20 and ((scores >= 0) & (scores <= 1)).all()
    record = Path(summary.record).read_text()
    assert "| challenger | 1 |" in record and "Data Docs:" in record
    assert "Evidently report:" in record
    assert set(summary.seconds) >= {"validate", "monitor", "train", "evaluate", "promote"}
    assert project.events() == ["retrain_decided", "model_promoted"]
    promoted = project.webhook.received[-1]["body"]
    assert promoted["text"].startswith("[driftloop] Model promoted: toy")
    assert promoted["driftloop"]["model_version"] == "1"


def test_bad_batch_is_quarantined_byte_for_byte_and_nothing_else_runs(project: Project) -> None:
    original = project.batch("b2-broken.csv").read_bytes()
    versions = project.versions()
    with pytest.raises(DataValidationError) as caught:
        project.run("b2-broken.csv")
    assert "[x2] expect_column_to_exist" in str(caught.value)
    moved = Path(caught.value.quarantined_to)
    assert moved.read_bytes() == original
    assert not project.batch("b2-broken.csv").exists()
    result = json.loads((moved.parent / "validation.json").read_text())
    assert any("x2" in f for f in result["failures"])
    assert project.versions() == versions and project.aliases()["production"] == "1"
    assert read_ledger(project.root / "data" / "ledger.jsonl")[-1].status == "quarantined"
    assert project.events()[-1] == "batch_rejected"  # announced once, not also as a failed run
    assert "broken expectations; quarantined to" in str(project.webhook.received[-1]["body"])


def test_drifted_batch_triggers_a_retrain(project: Project) -> None:
    versions = project.versions()
    summary = project.run("b3-drift.csv", DRIFT__SHARE_THRESHOLD="0.3")
    assert summary.outcome in {"promoted", "challenger lost"}
    assert project.versions() == versions + 1
    record = Path(summary.record).read_text()
    assert "feature drift after multiple-testing correction" in record
    assert "signals fired: drift" in record
    assert "`x1` (numeric): wasserstein" in record and "**drifted**" in record
    assert "| champion | 1 |" in record


def test_losing_challenger_leaves_production_untouched(project: Project) -> None:
    before = project.aliases()
    dispatches = len(project.github.received)
    summary = project.run("b4-clean.csv", force=True, PROMOTION__MIN_IMPROVEMENT="0.5")
    assert summary.outcome == "challenger lost"
    assert summary.message.startswith("no metric improves by 0.5")
    assert "champion stays" in summary.message
    # The champion's scores on the newest holdout become what later batches are judged against.
    assert f"v{before['production']}'s baselines are now its metrics on" in summary.message
    tags = mlflow.MlflowClient().get_model_version_by_alias("toy", "production").tags
    assert tags["driftloop.baseline_from"] == summary.challenger_version
    assert 0.5 < float(tags["driftloop.baseline.roc_auc"]) <= 1
    assert "promote" in summary.seconds  # the stage is timed whatever its verdict
    after = project.aliases()
    assert after["production"] == before["production"]
    assert after["challenger"] == summary.challenger_version != before["production"]
    assert len(project.github.received) == dispatches
    accepted = [
        e.batch
        for e in read_ledger(project.root / "data" / "ledger.jsonl")
        if e.status == "accepted"
    ]
    assert accepted == ["b1-clean.csv", "b3-drift.csv", "b4-clean.csv"]


def test_label_only_concept_drift_is_caught_by_the_metric_not_by_drift(project: Project) -> None:
    production = project.aliases()["production"]
    missed = project.run("b5-concept.csv", POLICY__NAME="drift-only")
    assert missed.outcome == "kept production" and project.aliases()["production"] == production
    record = Path(missed.record).read_text()
    assert "no drift" in record and "signals fired: none" in record
    calls = len(project.github.received)
    project.github.status_queue.append(503)  # GitHub has a bad moment: the dispatch retries
    caught = project.run("b6-concept.csv")
    record = Path(caught.record).read_text()
    assert "signals fired: realized_drop" in record and "realized roc_auc dropped" in record
    assert "no drift" in record  # the features did not move: only the labels tell
    assert caught.outcome == "promoted" and caught.production_version != production
    retried = project.github.received[calls:]
    assert len(retried) == 2  # 503, then 204: one delivery, sent twice
    assert {c["body"]["client_payload"]["model_version"] for c in retried} == {
        caught.production_version
    }
    assert "dispatched on attempt 2" in Path(caught.record).read_text()


def test_a_failed_run_is_announced(project: Project) -> None:
    with pytest.raises(SpecError):
        project.run("b4-clean.csv", PATHS__SPEC=str(project.root / "missing.yaml"))
    assert project.events()[-1] == "run_failed"
    text = project.webhook.received[-1]["body"]["text"]
    assert "retraining run" in text and "SpecError" in text


def test_columns_the_spec_does_not_name_are_reported_and_not_used(project: Project) -> None:
    frame = make_frame(500, seed=31, start=7000).assign(note="free text", region=3)
    frame.to_csv(project.batch("b8-extra.csv"), index=False)
    summary = project.run("b8-extra.csv")
    assert summary.outcome in {"kept production", "promoted", "challenger lost"}
    record = Path(summary.record).read_text()
    assert "Columns the spec does not name (not used): `note`, `region`" in record
    assert "unexpected_columns" in project.events()


def test_secrets_never_reach_reports_mlflow_or_logs(project: Project) -> None:
    secrets = [TOKEN.encode(), project.webhook.path.encode()]
    leaks = [
        p
        for p in project.root.rglob("*")
        if p.is_file() and any(secret in p.read_bytes() for secret in secrets)
    ]
    assert leaks == []
    # Nor what the Prefect server keeps (the UI): run logs, artifacts, flow run parameters.
    with get_client(sync_client=True) as client:
        kept = [
            *(log.message for log in _every(client.read_logs)),
            *(str(a.data) for a in _every(client.read_artifacts)),
            *(json.dumps(run.parameters) for run in _every(client.read_flow_runs)),
        ]
    assert kept and not [text for text in kept if any(s.decode() in text for s in secrets)]


def _every(read: Callable[..., list[T]]) -> list[T]:
    """All pages of a Prefect API listing (the server returns at most 200 per call)."""
    items: list[T] = []
    while page := read(limit=200, offset=len(items)):
        items += page
        if len(page) < 200:
            break
    return items
