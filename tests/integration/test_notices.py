"""What the channel hears when the policy holds a retrain back, and when monitoring sees drift."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from flow_project import Project, toy_project

from pipeline.flows import monitoring_flow, scoring_flow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "ghp_notices_secret_0123456789"


@pytest.fixture(scope="module")
def project(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with toy_project(tmp_path_factory.mktemp("project"), TOKEN) as built:
        yield built


def test_a_drift_the_cooldown_holds_back_is_announced_with_the_rule(project: Project) -> None:
    assert project.run("b1-clean.csv").outcome == "promoted"
    heard = len(project.webhook.received)
    kept = project.run("b3-drift.csv", POLICY__COOLDOWN="1", DRIFT__SHARE_THRESHOLD="0.3")
    assert kept.outcome == "kept production" and "drift" in kept.signals
    assert project.events()[heard:] == ["retrain_held_back"]
    told = project.webhook.received[-1]["body"]["driftloop"]
    assert told["summary"].startswith("feature drift after multiple-testing correction")
    assert told["summary"].endswith(
        "held back by cooldown: last retrain 1 batch(es) ago, cooldown is 1"
    )
    assert told["details"]["held back by"] == "cooldown"
    assert told["record"] == kept.record and told["model_version"] == "1"


def test_monitoring_announces_a_metric_drop_and_unexpected_columns(project: Project) -> None:
    flipped = pd.read_csv(project.batch("b5-concept.csv")).assign(note="free text")
    flipped.to_csv(project.batch("b9-flipped.csv"), index=False)
    heard = len(project.webhook.received)
    summary = monitoring_flow(batch=str(project.batch("b9-flipped.csv")))
    assert summary.outcome == "monitored"
    assert project.events()[heard:] == ["unexpected_columns", "drift_detected"]
    told = project.webhook.received[-1]["body"]["driftloop"]
    assert told["summary"].startswith("realized roc_auc dropped")
    assert "realized_drop" in told["details"]["signals"]
    assert told["record"] == summary.record and told["batch"] == "b9-flipped.csv"


def test_scoring_announces_unexpected_columns(project: Project) -> None:
    extra = pd.read_csv(project.batch("b1-clean.csv")).assign(comment="free text")
    extra.to_csv(project.batch("b10-extra.csv"), index=False)
    heard = len(project.webhook.received)
    scored = scoring_flow(batch=str(project.batch("b10-extra.csv")))
    assert scored.rows == len(extra)
    assert project.events()[heard:] == ["unexpected_columns"]
    told = project.webhook.received[-1]["body"]["driftloop"]
    assert told["summary"] == "1 columns the spec does not name, not used: `comment`"
    assert told["batch"] == "b10-extra.csv"


def test_a_concept_drift_batch_is_told_apart_from_its_label_free_estimate(
    project: Project,
) -> None:
    # The concept batch keeps the reference's features and turns the labels around: the
    # model stays as sure as before and is wrong, which no label-free estimate can see.
    concept = pd.read_csv(project.batch("b5-concept.csv"))
    concept.to_csv(project.batch("b11-concept.csv"), index=False)
    heard = len(project.webhook.received)
    summary = monitoring_flow(batch=str(project.batch("b11-concept.csv")))
    assert summary.outcome == "monitored"
    assert project.events()[heard:] == ["drift_detected"]
    told = project.webhook.received[-1]["body"]["driftloop"]
    assert "divergence" in told["details"]["signals"]
    assert told["details"]["not acted on by the retrain policy"] == "divergence"
    assert "realized below its label-free estimate (concept drift" in told["summary"]
    record = Path(summary.record).read_text(encoding="utf-8")
    assert "label-free estimate's 95% interval for this batch" in record
    assert "**outside** on accuracy: realized" in record and "; roc_auc: realized" in record
