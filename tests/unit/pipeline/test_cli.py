from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from factories import spec_for_frames
from pipeline.cli import build_parser, main


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "monitor", "score", "history", "rollback", "demo", "simulate", "suite"):
        assert command in out


def test_simulate_requires_spec_batches_and_out() -> None:
    args = build_parser().parse_args(
        ["simulate", "--spec", "s.yaml", "--batches", "in", "--out", "o", "--policy", "never"]
    )
    assert (str(args.spec), str(args.batches), str(args.out), args.policy) == (
        "s.yaml",
        "in",
        "o",
        "never",
    )
    with pytest.raises(SystemExit):
        build_parser().parse_args(["simulate", "--spec", "s.yaml"])


def test_bad_setting_fails_at_start_with_the_variable_name(monkeypatch) -> None:
    monkeypatch.setenv("DRIFTLOOP_TRAINING__WINDOW", "forever")
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "run"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "DRIFTLOOP_TRAINING__WINDOW='forever'" in done.stderr
    assert "Traceback" not in done.stderr


def test_help_does_not_import_the_heavy_libraries() -> None:
    code = (
        "import sys; from pipeline.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'prefect', 'mlflow', 'great_expectations', 'evidently', 'xgboost'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().endswith("[]")


def test_history_of_a_model_that_is_not_registered_yet(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "toy.yaml"
    spec.write_text(yaml.safe_dump(spec_for_frames("toy", "ref.parquet", "in")))
    monkeypatch.setenv("DRIFTLOOP_MLFLOW__TRACKING_URI", f"sqlite:///{tmp_path / 'm.db'}")
    assert main(["history", "--spec", str(spec)]) == 0
    assert "toy: no alias moves recorded" in capsys.readouterr().out
    assert main(["rollback", "--spec", str(spec)]) == 1
    assert "toy has no `production` version" in capsys.readouterr().err
