from __future__ import annotations

import os
import subprocess
import sys
import threading
from importlib import metadata

import pytest
import yaml
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_SERVER_EPHEMERAL_ENABLED,
    temporary_settings,
)

from config.errors import ConfigError
from config.settings import get_settings
from data_validation.errors import DataValidationError
from factories import make_frame, spec_for_frames
from pipeline import cli, preflight
from pipeline.arguments import COMMANDS, verbosity
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


@pytest.fixture
def toy_project(tmp_path, monkeypatch: pytest.MonkeyPatch):
    """A project folder (the working directory) with a toy spec, its reference and batches."""
    incoming = tmp_path / "data" / "incoming" / "toy"
    incoming.mkdir(parents=True)
    make_frame(50).to_parquet(tmp_path / "data" / "ref.parquet")
    make_frame(20).to_csv(incoming / "batch-01.csv", index=False)
    make_frame(20).rename(columns={"x2": "x_2"}).to_csv(incoming / "renamed.csv", index=False)
    make_frame(20).drop(columns=["y"]).to_csv(incoming / "unlabelled.csv", index=False)
    make_frame(80).to_csv(tmp_path / "history.csv", index=False)
    make_frame(80).drop(columns=["colour"]).to_csv(tmp_path / "no-colour.csv", index=False)
    (tmp_path / "elsewhere.csv").write_text("t,x1\n1,2\n")
    spec = spec_for_frames("toy", "data/ref.parquet", "data/incoming/toy")
    specs = {
        "toy.yaml": spec,
        "no-reference.yaml": spec | {"reference": "data/none.parquet"},
        "no-feature.yaml": spec | {"features": {"numeric": ["x1", "dewpoint"]}},
        "near-feature.yaml": spec | {"features": {"numeric": ["x1", "x_1"]}},
        "typo.yaml": spec | {"task": "binery"},
        "split.yaml": spec | {"reference": "cut/ref.csv", "incoming": "cut/in"},
    }
    for name, content in specs.items():
        (tmp_path / name).write_text(yaml.safe_dump(content))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DRIFTLOOP_PATHS__SPEC", "toy.yaml")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


MISTAKES = [
    (["run", "--batch", "data/incoming/toy/nosuch.csv"], "does not exist; name a file in"),
    (["run", "--batch", "elsewhere.csv"], "outside the dataset's incoming folder"),
    (["monitor", "--batch", "elsewhere.csv"], "outside the dataset's incoming folder"),
    (["run", "--spec", "no-reference.yaml"], "not found; fix `reference` in the dataset spec"),
    (["run", "--spec", "no-feature.yaml"], "lacks 'dewpoint' (features.numeric)"),
    (["run", "--spec", "near-feature.yaml"], "did you mean 'x1' for 'x_1'?"),
    (["score", "--batch", "data/incoming/toy/renamed.csv"], "did you mean 'x_2' for 'x2'?"),
    (
        ["score", "--batch", "data/incoming/toy/renamed.csv"],
        "batch data/incoming/toy/renamed.csv lacks 'x2'",
    ),
    (["run", "--spec", "typo.yaml"], "task: must be one of"),
    (["score", "--batch", "nosuch.csv"], "batch nosuch.csv does not exist; check the path"),
    (["suite", "--spec", "typo.yaml"], "task: must be one of"),
    (["suite", "--spec", "no-feature.yaml"], "lacks 'dewpoint' (features.numeric)"),
    (["history", "--spec", "typo.yaml"], "task: must be one of"),
    (["rollback", "--spec", "typo.yaml"], "task: must be one of"),
    (
        [
            "split",
            "history.csv",
            "--spec",
            "typo.yaml",
            "--reference-fraction",
            "0.5",
            "--rows",
            "9",
        ],
        "task: must be one of",
    ),
    (
        [
            "split",
            "no-colour.csv",
            "--spec",
            "split.yaml",
            "--reference-fraction",
            "0.5",
            "--rows",
            "9",
        ],
        "the history no-colour.csv lacks 'colour' (features.categorical)",
    ),
    (
        [
            "split",
            "nosuch.csv",
            "--spec",
            "split.yaml",
            "--reference-fraction",
            "0.5",
            "--rows",
            "9",
        ],
        "history nosuch.csv does not exist",
    ),
    (
        ["simulate", "--spec", "typo.yaml", "--batches", "data/incoming/toy", "--out", "o"],
        "task: must be one of",
    ),
    (
        ["simulate", "--spec", "no-feature.yaml", "--batches", "data/incoming/toy", "--out", "o"],
        "lacks 'dewpoint' (features.numeric)",
    ),
    (
        ["simulate", "--spec", "toy.yaml", "--batches", "data/nosuch", "--out", "o"],
        "batches folder data/nosuch not found; pass --batches",
    ),
]


@pytest.mark.parametrize(("argv", "words"), MISTAKES, ids=[" ".join(m[0][:3]) for m in MISTAKES])
def test_a_mistake_in_what_a_command_names_exits_2_with_one_line_before_prefect_starts(
    toy_project, monkeypatch, capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    def no_server() -> None:
        raise AssertionError("Prefect started before the mistake was found")

    monkeypatch.setattr(cli, "start_temporary_server", no_server)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err
    assert err.startswith("driftloop: error: ") and err.count("\n") == 1, err


def test_a_named_batch_without_a_column_is_left_to_the_gate_to_quarantine(toy_project) -> None:
    # As the same file found without --batch would be: the data is at fault, not the command.
    batch = "data/incoming/toy/renamed.csv"
    preflight.check_run_inputs(get_settings(), spec=None, batch=batch)
    with pytest.raises(ConfigError, match="lacks 'x2'"):
        preflight.check_run_inputs(get_settings(), spec=None, batch=batch, scoring=True)


def test_an_unlabelled_named_batch_passes_the_column_check(toy_project) -> None:
    settings = get_settings()
    batch = "data/incoming/toy/unlabelled.csv"
    preflight.check_run_inputs(settings, spec=None, batch=batch)
    preflight.check_run_inputs(settings, spec=None, batch=batch, scoring=True)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "--batch", "nope.csv"], "batch nope.csv does not exist; name a file in"),
        (["run", "--batch", "elsewhere.csv"], "outside the dataset's incoming folder"),
        (["run", "--spec", "no-reference.yaml"], "reference data/none.parquet not found; fix"),
        (["run", "--spec", "no-feature.yaml"], "lacks 'dewpoint' (features.numeric)"),
        (
            ["score", "--batch", "data/incoming/toy/renamed.csv"],
            "batch data/incoming/toy/renamed.csv lacks 'x2'",
        ),
        (["suite", "--spec", "typo.yaml"], "task: must be one of"),
        (["run"], "DRIFTLOOP_TRAINNG__TUNING_JOBS (environment) sets nothing: did you mean"),
    ],
)
def test_the_console_script_refuses_a_mistake_before_any_heavy_library_loads(
    toy_project, argv: list[str], words: str
) -> None:
    code = (
        "import sys\nfrom pipeline.cli import main\n"
        f"code = main({argv!r})\n"
        "heavy = {'prefect', 'mlflow', 'great_expectations', 'evidently', 'xgboost'}\n"
        "print(code, sorted(heavy & set(sys.modules)))"
    )
    env = {**os.environ, "DRIFTLOOP_PATHS__SPEC": "toy.yaml"}
    if argv == ["run"]:
        env["DRIFTLOOP_TRAINNG__TUNING_JOBS"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == "2 []"
    assert done.stderr.startswith("driftloop: error: ") and words in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr


def test_a_misspelt_setting_in_dotenv_names_the_closest_one(
    toy_project, capsys: pytest.CaptureFixture[str]
) -> None:
    (toy_project / ".env").write_text("DRIFTLOOP_PROMOTION__MIN_IMPROVMENT=0.01\n")
    assert main(["history"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "driftloop: error: unknown driftloop settings: DRIFTLOOP_PROMOTION__MIN_IMPROVMENT "
        "(.env) sets nothing: did you mean DRIFTLOOP_PROMOTION__MIN_IMPROVEMENT?\n"
    )


def test_an_unexpected_error_is_one_line_and_exit_1_with_the_traceback_under_v(
    toy_project, monkeypatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(settings, args) -> int:
        raise RuntimeError("the registry went away\n  while reading")

    monkeypatch.setattr(cli, "_history", broken)
    assert main(["history"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "driftloop: error: RuntimeError: the registry went away; while reading "
        "(run again with -v for the traceback)\n"
    )
    assert main(["history", "-v"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and 'raise RuntimeError("the registry' in err
    assert err.splitlines()[-1] == (
        "driftloop: error: RuntimeError: the registry went away; while reading"
    )


def test_a_rejected_batch_exits_1_with_its_verdict_and_failures_not_a_traceback(
    toy_project, monkeypatch, capsys: pytest.CaptureFixture[str]
) -> None:
    failures = ("[x2] expect_column_to_exist: column missing from the batch",)

    def rejected(settings, args) -> int:
        raise DataValidationError(
            "batch b.csv failed validation (1 broken expectations); quarantined to q/b.csv\n  "
            + failures[0],
            failures=failures,
            quarantined_to="q/b.csv",
        )

    monkeypatch.setattr(cli, "_history", rejected)
    assert main(["history"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "driftloop: error: batch b.csv failed validation (1 broken expectations); "
        "quarantined to q/b.csv",
        f"  {failures[0]}",
    ]


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"driftloop {metadata.version('driftloop')}\n"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run"], 0),
        (["-v", "run"], 1),
        (["run", "-v"], 1),
        (["-vv", "demo"], 2),
        (["-q", "demo"], -1),
        (["demo", "--quiet"], -1),
        (["--verbose", "history", "--spec", "s.yaml"], 1),
    ],
)
def test_quiet_and_verbose_work_before_and_after_the_command(
    argv: list[str], expected: int
) -> None:
    parser = build_parser()
    assert verbosity(parser, parser.parse_args(argv)) == expected


def test_quiet_and_verbose_together_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit) as done:
        verbosity(parser, parser.parse_args(["-q", "run", "-v"]))
    assert done.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith("driftloop: error: -q and -v")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_a_description_and_an_example_in_its_help(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert COMMANDS[command][1].splitlines()[0] in out
    assert f"examples:\n  driftloop {command}" in out


def test_a_mistake_shows_its_traceback_only_under_v(
    toy_project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--batch", "nope.csv"]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert main(["-v", "run", "--batch", "nope.csv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last)")
    assert err.splitlines()[-1].startswith("driftloop: error: batch nope.csv does not exist")
