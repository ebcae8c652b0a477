"""Multiclass and regression through the retraining flow, as binary goes in test_retrain_flow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from flow_project import Project, toy_project

from factories import make_frame
from pipeline.flows import scoring_flow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TASKS = ("multiclass", "regression")


@pytest.fixture(scope="module", params=TASKS)
def project(
    request: pytest.FixtureRequest, prefect_harness: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Project]:
    task = request.param
    with toy_project(tmp_path_factory.mktemp(task), "ghp_tasks_0123456789", task=task) as built:
        yield built


def test_each_task_runs_the_whole_loop(project: Project) -> None:
    first = project.run("b1-clean.csv")
    assert first.outcome == "promoted" and first.production_version == "1"
    metric = "accuracy" if project.spec_task == "multiclass" else "rmse"
    assert first.metric == metric
    # x1 moves by 1.5 sd: one feature of three, so drift is a share of 0.3 here.
    drifted = project.run("b3-drift.csv", DRIFT__SHARE_THRESHOLD="0.3")
    assert "drift" in drifted.signals and drifted.retrained
    assert drifted.outcome in {"promoted", "challenger lost"}
    assert drifted.value is not None  # the champion's realized metric on the batch
    lost = project.run("b4-clean.csv", force=True, PROMOTION__MIN_IMPROVEMENT="1000")
    assert lost.outcome == "challenger lost"
    assert project.aliases()["production"] == drifted.production_version


def test_each_task_estimates_its_metric_on_an_unlabelled_batch(project: Project) -> None:
    frame = make_frame(400, seed=22, start=8000, task=project.spec_task).drop(columns=["y"])
    frame.to_csv(project.batch("b9-unlabelled.csv"), index=False)
    summary = project.run("b9-unlabelled.csv")
    assert summary.value is None and summary.estimated is not None
    method = "confidence-based" if project.spec_task == "multiclass" else "direct loss"
    assert f"ESTIMATED (no labels; {method}" in Path(summary.record).read_text()


def test_each_task_scores_with_its_own_outputs(project: Project) -> None:
    batch = project.root / "to-score.csv"
    frame = make_frame(200, seed=21, start=9000, task=project.spec_task)
    frame.drop(columns=["y"]).to_csv(batch, index=False)
    summary = scoring_flow(batch=str(batch), out="scored.csv")
    scored = pd.read_csv(summary.predictions)
    assert len(scored) == 200 and summary.prediction_drift is not None
    if project.spec_task == "multiclass":
        probabilities = scored[["proba_high", "proba_low", "proba_mid"]]
        assert probabilities.sum(axis=1).round(6).eq(1).all()
        assert set(scored["predicted_label"]) <= {"low", "mid", "high"}
    else:
        assert scored["prediction"].notna().all() and "predicted_label" not in scored
