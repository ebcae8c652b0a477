"""The retraining flow end to end: real GE, Evidently, XGBoost, MLflow (SQLite) and dispatch."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow import MlflowClient

from config.settings import get_settings
from data_validation.errors import DataValidationError
from factories import make_frame, spec_for_frames
from fakes import GitHubState, fake_github
from pipeline.flows import retraining_flow
from runs.ledger import read_ledger

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN = "ghp_integration_secret_0123456789"


@dataclass
class Project:
    root: Path
    github: GitHubState
    client: MlflowClient

    def batch(self, name: str) -> Path:
        return self.root / "data" / "incoming" / "toy" / name

    def aliases(self) -> dict[str, str]:
        model = self.client.get_registered_model("toy")
        return {alias: str(version) for alias, version in model.aliases.items()}

    def versions(self) -> int:
        return len(self.client.search_model_versions("name='toy'"))

    def run(self, name: str, *, force: bool = False, **settings: str):
        for key, value in settings.items():
            os.environ[f"DRIFTLOOP_{key}"] = value
        get_settings.cache_clear()
        try:
            return retraining_flow(batch=str(self.batch(name)), force_retrain=force)
        finally:
            for key in settings:
                os.environ.pop(f"DRIFTLOOP_{key}")
            get_settings.cache_clear()


@pytest.fixture(scope="module")
def project(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("project")
    incoming = root / "data" / "incoming" / "toy"
    incoming.mkdir(parents=True)
    make_frame(1500, seed=1).to_parquet(root / "data" / "reference.parquet")
    make_frame(500, seed=2, start=1500).to_csv(incoming / "b1-clean.csv", index=False)
    broken = make_frame(500, seed=3, start=2000).rename(columns={"x2": "x_two"})
    broken.to_csv(incoming / "b2-broken.csv", index=False)
    make_frame(500, seed=4, start=2500, shift=1.5).to_csv(incoming / "b3-drift.csv", index=False)
    make_frame(500, seed=5, start=3000).to_csv(incoming / "b4-clean.csv", index=False)
    # Concept drift only: same feature distribution, the label's relationship inverted.
    make_frame(500, seed=6, start=3500, flip=True).to_csv(incoming / "b5-concept.csv", index=False)
    make_frame(500, seed=7, start=4000, flip=True).to_csv(incoming / "b6-concept.csv", index=False)
    spec = spec_for_frames("toy", "data/reference.parquet", "data/incoming/toy")
    (root / "toy.yaml").write_text(yaml.safe_dump(spec))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    saved_cwd = Path.cwd()
    os.chdir(root)
    with fake_github(TOKEN) as github, pytest.MonkeyPatch.context() as env:
        env.setenv("DRIFTLOOP_PATHS__SPEC", str(root / "toy.yaml"))
        env.setenv("DRIFTLOOP_MLFLOW__TRACKING_URI", uri)
        env.setenv("DRIFTLOOP_GITHUB__TOKEN", TOKEN)
        env.setenv("DRIFTLOOP_GITHUB__REPO", "acme/model")
        env.setenv("DRIFTLOOP_GITHUB__API_URL", github.url)
        env.setenv("DRIFTLOOP_TRAINING__N_ESTIMATORS", "80")
        # Scenarios follow one another batch by batch; the default cooldown is unit-tested.
        env.setenv("DRIFTLOOP_POLICY__COOLDOWN", "0")
        get_settings.cache_clear()
        yield Project(root, github, MlflowClient(tracking_uri=uri, registry_uri=uri))
    os.chdir(saved_cwd)
    mlflow.set_tracking_uri(None)
    get_settings.cache_clear()


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
    assert summary.message.endswith("champion stays")
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
    caught = project.run("b6-concept.csv")
    record = Path(caught.record).read_text()
    assert "signals fired: realized_drop" in record and "realized roc_auc dropped" in record
    assert "no drift" in record  # the features did not move: only the labels tell
    assert caught.outcome == "promoted" and caught.production_version != production


def test_secret_token_never_reaches_reports_mlflow_or_logs(project: Project) -> None:
    leaks = [
        p
        for p in project.root.rglob("*")
        if p.is_file() and p.suffix != ".db" and TOKEN.encode() in p.read_bytes()
    ]
    assert leaks == []
    assert TOKEN.encode() not in (project.root / "mlflow.db").read_bytes()
