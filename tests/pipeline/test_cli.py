from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import yaml
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_SERVER_EPHEMERAL_ENABLED,
    temporary_settings,
)

from config.settings import get_settings
from factories import make_frame, spec_for_frames
from pipeline import cli
from pipeline.cli import build_parser, main

EPHEMERAL = {PREFECT_SERVER_EPHEMERAL_ENABLED: True}


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


def test_no_temporary_server_is_started_when_one_is_configured(monkeypatch) -> None:
    started: list[int] = []
    monkeypatch.setattr(SubprocessASGIServer, "start", lambda self: started.append(1))
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        cli.start_temporary_server()()
    assert started == []


def test_temporary_server_boots_in_the_background_and_can_be_awaited(monkeypatch) -> None:
    started = threading.Event()
    monkeypatch.setattr(SubprocessASGIServer, "start", lambda self: started.set())
    with temporary_settings(EPHEMERAL, restore_defaults={PREFECT_API_URL}):
        wait = cli.start_temporary_server()
        wait()
    assert started.is_set()


def test_a_failed_early_start_is_left_to_the_flow_call(monkeypatch) -> None:
    tried: list[int] = []
    escaped: list[BaseException | None] = []

    def refuse(self) -> None:
        tried.append(1)
        raise RuntimeError("port in use")

    monkeypatch.setattr(SubprocessASGIServer, "start", refuse)
    monkeypatch.setattr(threading, "excepthook", lambda args: escaped.append(args.exc_value))
    with temporary_settings(EPHEMERAL, restore_defaults={PREFECT_API_URL}):
        cli.start_temporary_server()()
    # It tried, and the error stayed in the background thread: the flow's own start reports it.
    assert tried == [1] and escaped == []


def test_console_script_exits_with_mains_code_after_the_other_exit_hooks(tmp_path) -> None:
    marker = tmp_path / "hook-ran"
    script = (
        "import atexit, sys\n"
        "from pipeline import cli\n"
        "def main(argv=None):\n"
        f"    atexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))\n"
        "    print('done')\n"
        "    return 3\n"
        "cli.main = main\n"
        "cli.run()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 3 and done.stdout == "done\n"
    assert marker.read_text() == "ran"  # a hook registered later (a server's stop) still ran


def test_console_script_keeps_argparse_exit_codes() -> None:
    script = "import sys\nfrom pipeline import cli\nsys.argv = ['driftloop', 'nosuch']\ncli.run()\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2 and "invalid choice" in done.stderr


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "--batch", "data/incoming/toy/nosuch.csv"], "does not exist"),
        (["run", "--batch", "elsewhere.csv"], "outside the dataset's incoming folder"),
        (["monitor", "--batch", "elsewhere.csv"], "outside the dataset's incoming folder"),
        (["run", "--spec", "no-reference.yaml"], "not found: fix `reference`"),
        (["run", "--spec", "no-feature.yaml"], "lacks 'dewpoint' (features.numeric)"),
        (["run", "--spec", "typo.yaml"], "task: must be one of"),
        (["score", "--batch", "nosuch.csv"], "batch nosuch.csv does not exist"),
    ],
)
def test_a_mistake_in_what_a_run_names_exits_2_before_prefect_starts(
    tmp_path, monkeypatch, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    (tmp_path / "data" / "incoming" / "toy").mkdir(parents=True)
    make_frame(50).to_parquet(tmp_path / "data" / "ref.parquet")
    (tmp_path / "elsewhere.csv").write_text("t,x1\n1,2\n")
    spec = spec_for_frames("toy", "data/ref.parquet", "data/incoming/toy")
    specs = {
        "toy.yaml": spec,
        "no-reference.yaml": spec | {"reference": "data/none.parquet"},
        "no-feature.yaml": spec | {"features": {"numeric": ["x1", "dewpoint"]}},
        "typo.yaml": spec | {"task": "binery"},
    }
    for name, content in specs.items():
        (tmp_path / name).write_text(yaml.safe_dump(content))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DRIFTLOOP_PATHS__SPEC", "toy.yaml")
    get_settings.cache_clear()

    def no_server() -> None:
        raise AssertionError("Prefect started before the mistake was found")

    monkeypatch.setattr(cli, "start_temporary_server", no_server)
    try:
        assert main(argv) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert words in err and err.startswith("driftloop: ") and "Traceback" not in err
