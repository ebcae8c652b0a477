"""The demo's marker vouches for the local state the demo made, and for nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import MlflowSettings, PathSettings
from demo_data.workspace import (
    DEMO_MARKER,
    foreign_state,
    read_demo_marker,
    reset_local_state,
    write_demo_marker,
)

PATHS = PathSettings()
MLFLOW = MlflowSettings(tracking_uri="sqlite:///mlflow.db")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / ".gitkeep").write_text("")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _foreign(home: Path) -> list[str]:
    return [p.path.relative_to(home).as_posix() for p in foreign_state(PATHS, MLFLOW, home)]


def _run_leaves_state(home: Path) -> None:
    (home / "data" / "ledger.jsonl").write_text('{"batch": "b1.csv"}\n')
    (home / "mlflow.db").write_bytes(b"registry")
    (home / "reports" / "decision-1.md").write_text("# decision\n")


def test_a_fresh_clone_has_no_state_to_refuse(home: Path) -> None:
    (home / "data" / "quarantine").mkdir()  # an empty folder holds nothing
    assert _foreign(home) == []


def test_without_a_marker_every_place_that_holds_something_is_foreign(home: Path) -> None:
    _run_leaves_state(home)
    assert _foreign(home) == ["data/ledger.jsonl", "reports", "mlflow.db"]


def test_the_marker_vouches_for_state_as_the_demo_left_it(home: Path) -> None:
    write_demo_marker(PATHS, MLFLOW, home, finished=False)
    _run_leaves_state(home)
    write_demo_marker(PATHS, MLFLOW, home, finished=True)
    assert _foreign(home) == []
    (home / "reports" / "simulation.html").write_text("a replay of someone else's")
    (home / "data" / "predictions").mkdir()
    (home / "data" / "predictions" / "mine.csv").write_text("p\n0.4\n")
    assert _foreign(home) == ["data/predictions", "reports"]


def test_an_interrupted_demo_vouches_only_for_what_it_had_recorded(home: Path) -> None:
    # Killed during a batch (no chance to write its marker again): what that batch wrote, and
    # what a user builds there afterwards, are not the demo's to remove.
    write_demo_marker(PATHS, MLFLOW, home, finished=False)
    (home / "reports" / "decision-1.md").write_text("# the last batch the demo finished\n")
    write_demo_marker(PATHS, MLFLOW, home, finished=False)
    assert _foreign(home) == []
    (home / "data" / "ledger.jsonl").write_text('{"batch": "mine.csv"}\n')
    (home / "mlflow.db").write_bytes(b"the user's own models")
    assert _foreign(home) == ["data/ledger.jsonl", "mlflow.db"]
    assert read_demo_marker(home) is not None and not read_demo_marker(home).finished


def test_batches_added_to_the_demos_incoming_folder_are_not_the_demos(home: Path) -> None:
    # `dvc repro demo_data` rewrites data/incoming/rainfall: a batch added there is refused.
    incoming = home / "data" / "incoming" / "rainfall"
    incoming.mkdir(parents=True)
    (incoming / "batch-01.csv").write_text("a,b\n1,2\n")
    write_demo_marker(PATHS, MLFLOW, home, finished=True)
    assert _foreign(home) == []
    (incoming / "my-batch.csv").write_text("a,b\n3,4\n")
    assert _foreign(home) == ["data/incoming/rainfall"]


def test_a_file_that_is_not_the_demos_marker_vouches_for_nothing(home: Path) -> None:
    _run_leaves_state(home)
    (home / DEMO_MARKER).write_text('{"state": {"mlflow.db": null}}')
    assert read_demo_marker(home) is None
    assert "mlflow.db" in _foreign(home)


def test_state_outside_the_project_is_neither_foreign_nor_removed(
    home: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    team = tmp_path_factory.mktemp("team") / "registry.db"
    team.write_bytes(b"the team's models")
    elsewhere = MlflowSettings(tracking_uri=f"sqlite:///{team}")
    assert foreign_state(PATHS, elsewhere, home) == []
    reset_local_state(PATHS, elsewhere)
    assert team.read_bytes() == b"the team's models"


def test_the_reset_empties_reports_but_keeps_the_folder_placeholder(home: Path) -> None:
    _run_leaves_state(home)
    removed = reset_local_state(PATHS, MLFLOW)
    assert sorted(p.relative_to(home).as_posix() for p in removed) == [
        "data/ledger.jsonl",
        "mlflow.db",
        "reports/decision-1.md",
    ]
    assert [p.name for p in (home / "reports").iterdir()] == [".gitkeep"]


def test_demo_data_from_dvc_without_a_marker_is_the_demos(home: Path) -> None:
    # `dvc pull` (or a marker from an older release) leaves the demo's own files there.
    incoming = home / "data" / "incoming" / "rainfall"
    incoming.mkdir(parents=True)
    (incoming / "batch-01.csv").write_text("a,b\n1,2\n")
    (home / "data" / "reference").mkdir()
    (home / "data" / "reference" / "rainfall.parquet").write_bytes(b"PAR1")
    assert _foreign(home) == []
