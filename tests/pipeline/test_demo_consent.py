"""`driftloop demo` removes only the state it made itself; anything else needs --yes."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

from config.settings import get_settings
from data_validation.errors import DataValidationError
from demo_data import workspace
from pipeline import cli, console
from pipeline.cli import main

ROOT = Path(__file__).resolve().parents[2]
INCOMING = Path("data/incoming/rainfall")
LIBRARY_SWITCHES = ("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "MLFLOW_LOGGING_LEVEL")
DEMO_SETTINGS = (
    "DRIFTLOOP_TRAINING__TUNING_JOBS",
    "DRIFTLOOP_TRAINING__TUNING_TRIALS",
    "DRIFTLOOP_DATA__COMMIT",
)


@dataclass(frozen=True)
class _Summary:
    outcome: str
    message: str
    production_version: str | None


def _fake_flow(spec: str, batch: str) -> _Summary:
    """A retraining run as far as the demo sees it: it writes a ledger line and a registry."""
    with Path("data/ledger.jsonl").open("a", encoding="utf-8") as ledger:
        ledger.write(f'{{"batch": "{Path(batch).name}"}}\n')
    Path("mlflow.db").write_bytes(b"the demo's registry")
    if Path(batch).name == "batch-02.csv":
        raise DataValidationError(
            "batch batch-02.csv failed validation",
            failures=("[x] expect_column_to_exist: missing",),
            quarantined_to="data/quarantine/batch-02.csv",
        )
    return _Summary("promoted", "no champion", "1")


def _write_batches(root: Path, dataset: str = "rainfall") -> str:
    incoming = root / "data" / "incoming" / dataset
    incoming.mkdir(parents=True, exist_ok=True)
    for name in ("batch-01.csv", "batch-02.csv"):
        (incoming / name).write_text("day,rain\n1,0\n")
    return "written directly (no DVC repo here)"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with a registry of its own (a model in mlflow.db) and a ledger."""
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "data" / "rainfall.yaml", tmp_path / "data" / "rainfall.yaml")
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        db.execute("CREATE TABLE registered_models (name TEXT PRIMARY KEY)")
        db.execute("INSERT INTO registered_models VALUES ('churn')")
    db.close()
    (tmp_path / "data" / "ledger.jsonl").write_text('{"batch": "theirs.csv"}\n')
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    return tmp_path


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's runs without Prefect: a fake retraining flow and two tiny batches."""
    # What the demo sets for its runs and the libraries, undone after the test (set first:
    # monkeypatch undoes only what it changed).
    for name in (*DEMO_SETTINGS, *LIBRARY_SWITCHES):
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)
    flows = types.ModuleType("pipeline.flows")
    flows.retraining_flow = _fake_flow  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pipeline.flows", flows)
    monkeypatch.setattr(cli, "start_temporary_server", lambda: lambda: None)
    monkeypatch.setattr(console, "quiet_libraries", lambda verbosity: None)
    monkeypatch.setattr(workspace, "materialize_demo_data", _write_batches)


def test_the_demo_refuses_a_projects_own_registry_and_ledger_and_leaves_them_as_they_were(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {name: _digest(project / name) for name in ("mlflow.db", "data/ledger.jsonl")}
    assert main(["demo"]) == 2
    assert capsys.readouterr().err == (
        "driftloop: error: data/ledger.jsonl and mlflow.db hold state the demo did not create "
        "(a ledger, a registry); pass --yes to remove them (make run YES=1), or run the demo "
        "in a fresh clone\n"
    )
    assert {name: _digest(project / name) for name in before} == before
    assert not (project / workspace.DEMO_MARKER).exists()


def test_with_yes_the_demo_replaces_them_and_a_second_demo_needs_no_yes(
    project: Path, no_engine: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--yes"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == [
        "batch-01.csv: promoted: no champion [production v1]",
        "batch-02.csv: rejected, 1 broken expectations, quarantined to "
        "data/quarantine/batch-02.csv",
    ]
    assert (project / "mlflow.db").read_bytes() == b"the demo's registry"
    assert "theirs.csv" not in (project / "data" / "ledger.jsonl").read_text()
    # `make run` twice: the marker vouches for what the first demo left.
    assert main(["-q", "demo"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("batch-01.csv: promoted")


def test_a_run_after_the_demo_makes_its_state_the_projects_again(
    project: Path, no_engine: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--yes"]) == 0
    with (project / "data" / "ledger.jsonl").open("a", encoding="utf-8") as ledger:
        ledger.write('{"batch": "mine.csv"}\n')
    capsys.readouterr()
    assert main(["demo"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("driftloop: error: data/ledger.jsonl holds state the demo did not")
    assert "mine.csv" in (project / "data" / "ledger.jsonl").read_text()


def test_a_fresh_clone_runs_the_demo_without_asking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_engine: None
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / ".gitkeep").write_text("")
    shutil.copy(ROOT / "data" / "rainfall.yaml", tmp_path / "data" / "rainfall.yaml")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    assert main(["-q", "demo"]) == 0
    assert (tmp_path / "reports" / ".gitkeep").exists()


@pytest.mark.parametrize(
    "case",
    [
        (
            "DRIFTLOOP_MLFLOW__TRACKING_URI",
            "https://ci:s3cret@mlflow.example.com",
            "register its models in https://ci:***@mlflow.example.com",
        ),
        ("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000", "register its models in http://127"),
        ("DRIFTLOOP_GITHUB__TOKEN", "ghp_demo_0123456789", "ask driftloop/driftloop's CD"),
        ("DRIFTLOOP_NOTIFY__WEBHOOK_URL", "https://hooks.example.com/x", "post to your channel"),
        ("DRIFTLOOP_PATHS__LEDGER", "/srv/team/ledger.jsonl", "write to /srv/team/ledger.jsonl"),
    ],
)
def test_the_demo_asks_before_it_reaches_beyond_the_project(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_engine: None,
    capsys: pytest.CaptureFixture[str],
    case: tuple[str, str, str],
) -> None:
    setting, value, words = case
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "data" / "rainfall.yaml", tmp_path / "data" / "rainfall.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(setting, value)
    get_settings.cache_clear()
    assert main(["demo"]) == 2
    err = capsys.readouterr().err
    assert words in err and "s3cret" not in err
    assert err.endswith("unset those settings for the demo (it needs none), or pass --yes\n")
    assert not (tmp_path / "data" / "incoming").exists()


def test_the_demo_runs_its_own_spec_whatever_the_settings_name(
    project: Path, no_engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "mine.yaml").write_text("a spec of the user's own")
    monkeypatch.setenv("DRIFTLOOP_PATHS__SPEC", "mine.yaml")
    get_settings.cache_clear()
    ran: list[str] = []
    monkeypatch.setattr(
        sys.modules["pipeline.flows"],
        "retraining_flow",
        lambda spec, batch: ran.append(spec) or _fake_flow(spec, batch),
    )
    assert main(["-q", "demo", "--yes"]) == 0
    assert ran == ["data/rainfall.yaml", "data/rainfall.yaml"]


def test_the_reviews_demo_runs_its_own_spec_and_batches(
    project: Path, no_engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(ROOT / "data" / "reviews.yaml", project / "data" / "reviews.yaml")
    ran: list[tuple[str, str]] = []
    monkeypatch.setattr(
        sys.modules["pipeline.flows"],
        "retraining_flow",
        lambda spec, batch: ran.append((spec, Path(batch).parent.name)) or _fake_flow(spec, batch),
    )
    assert main(["-q", "demo", "--dataset", "reviews", "--yes"]) == 0
    assert ran == [("data/reviews.yaml", "reviews")] * 2
    # Its batches are the demo's own: the next demo (either one) needs no --yes.
    assert main(["-q", "demo"]) == 0
