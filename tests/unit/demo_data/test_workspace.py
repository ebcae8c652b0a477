"""The demo's reset removes only what earlier local runs left inside the project."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import MlflowSettings, PathSettings
from demo_data.workspace import reset_local_state


def test_a_store_outside_the_project_survives_the_demo_reset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, team = tmp_path / "project", tmp_path / "team"
    (project / "data").mkdir(parents=True)
    team.mkdir()
    (project / "data" / "ledger.jsonl").write_text("{}\n")
    (project / "mlflow.db").write_text("demo")
    (team / "registry.db").write_text("the team's models")
    monkeypatch.chdir(project)

    reset_local_state(PathSettings(), MlflowSettings(tracking_uri="sqlite:///mlflow.db"))
    assert not (project / "mlflow.db").exists() and not (project / "data" / "ledger.jsonl").exists()

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{team / 'registry.db'}")
    removed = reset_local_state(PathSettings(), MlflowSettings())
    assert (team / "registry.db").read_text() == "the team's models"
    assert all(path.resolve().is_relative_to(project.resolve()) for path in removed)
