"""The `driftloop` command line's arguments: every command, its help text and its examples."""

from __future__ import annotations

import argparse
from importlib import metadata
from pathlib import Path
from typing import Any, get_args

from config.settings import PolicyName
from demo_data import DEMO_DATASETS
from pipeline.console import DEFAULT, PROG, QUIET

DISTRIBUTION = "driftloop"
HELP_FORMAT = argparse.RawDescriptionHelpFormatter

DESCRIPTION = """\
Keep a production model healthy: validate each batch, measure drift, retrain when the
evidence says so, promote only a better model, dispatch it to CD.

Settings come from DRIFTLOOP_* environment variables and .env (see .env.example); a
misspelt one is refused with the closest real name."""
EPILOG = """\
examples:
  driftloop demo                      every demo batch through the loop, one line each
  driftloop run                       the next batch in the dataset's incoming folder
  driftloop -v run --batch data/incoming/rainfall/batch-02.csv
  driftloop history                   every promotion and rollback of the model
  driftloop data production           the data production was trained on, and where it is
  driftloop run --help                one command's options

exit status: 0 done (a batch may still be kept or a challenger lose); 1 a batch was
rejected, or the run failed; 2 a mistake in the command, a setting or the dataset spec."""

# name -> (one-line help, description, examples)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": (
        "process the next incoming batch (one flow run)",
        """\
Process the next batch in the dataset's incoming folder (or the one --batch names) through
the whole loop: validate it (a failing batch is quarantined), measure drift, decide whether
to retrain, train a challenger, promote it only if it beats production, dispatch it to CD,
and write the ledger entry and decision record. Prints one line per stage and one for the
batch.""",
        """\
  driftloop run
  driftloop run --batch data/incoming/rainfall/batch-02.csv
  driftloop run --spec examples/co2/spec.yaml --force-retrain""",
    ),
    "monitor": (
        "validate and measure the next batch, write its record; never trains",
        """\
Validate the next batch (or --batch) and measure its drift and, when it is labelled, the
production model's realized metric, as `run` does; then write its ledger entry and record.
Never trains, promotes or dispatches.""",
        """\
  driftloop monitor
  driftloop monitor --batch data/incoming/rainfall/batch-04.csv""",
    ),
    "demo": (
        "reset the demo's own state and run the built-in demo, all batches",
        """\
Build the demo data and run every batch through the retraining flow, one line per batch.
--dataset picks the demo: rainfall (NOAA daily weather; 8 batches, one with a schema break
and one without labels) or reviews (5,000 real Amazon fine-food reviews labelled great or
other, modelled from their text; 6 batches: one from a broken export, one without labels, and
two of other products).

It first removes the state an earlier demo left (the SQLite registry and artifacts, ledger,
quarantine, predictions, reports, GX results), as its marker file .driftloop-demo.json
records it. State the demo did not make (a registry with your models, a ledger) is refused:
pass --yes to remove it anyway.""",
        """\
  driftloop demo
  driftloop -q demo                   just the line of each batch
  driftloop demo --dataset reviews    the text demo: a model of the reviews' words
  driftloop demo --yes                also remove local state the demo did not make""",
    ),
    "simulate": (
        "replay a folder of batches through the real loop; write a timeline",
        """\
Replay a folder of batches, in name order, through the real loop with a registry, ledger
and reports of its own under --out, and write the timeline (timeline.csv, timeline.png,
timeline.html). The batch files are copied first; the originals are never moved.""",
        """\
  driftloop simulate --spec data/rainfall.yaml --batches data/incoming/rainfall \\
      --out reports/simulation
  driftloop simulate --spec examples/co2/spec.yaml --batches examples/co2/data/incoming \\
      --out reports/examples/co2 --policy never""",
    ),
    "score": (
        "score a batch with the production model; write predictions beside it",
        """\
Score a CSV or Parquet file with the production model once it passes the dataset's
expectation suite, and write the predictions, with the model version on every row, under
DRIFTLOOP_PATHS__PREDICTIONS. Its prediction drift goes to monitoring; it never trains.""",
        """\
  driftloop score --batch data/incoming/rainfall/batch-05.csv
  driftloop score --batch data/incoming/rainfall/batch-05.csv --out data/predictions/b5.csv""",
    ),
    "history": (
        "print every alias move of the model",
        """\
Print every move of the model's aliases (promotions and rollbacks, with who and why),
oldest first, and the version each alias points to now.""",
        """\
  driftloop history
  driftloop history --spec examples/co2/spec.yaml""",
    ),
    "data": (
        "print the data a model version was trained on; restore it with DVC",
        """\
Print what a model version (a number, or an alias such as production, previous or candidate)
was trained on: the git revision holding its DVC pointers, the DVC remote, and each training
file with its md5 (DVC's key), sha256, pointer and where it can be had now: the workspace,
the DVC cache or the DVC remote. --restore DIR writes exactly those files under DIR, each at
its project path, checked byte for byte against its sha256; a different file already there is
never overwritten. Files recorded before driftloop versioned data with DVC (no md5) can be
restored only from their project paths. No Prefect server is started.""",
        """\
  driftloop data production
  driftloop data 3 --restore /tmp/v3-data
  driftloop data previous --model co2""",
    ),
    "rollback": (
        "move production back (to `previous` by default) and dispatch it to CD",
        """\
Move the production alias back to the `previous` version (or the one --to names), record
the reason in the registry's history, and dispatch that version to CD as a release does.
No Prefect server is started.""",
        """\
  driftloop rollback --reason "v3 misbehaves on weekend traffic"
  driftloop rollback --to 1""",
    ),
    "approve": (
        "release the candidate waiting for approval and dispatch it to CD",
        """\
With DRIFTLOOP_PROMOTION__APPROVAL=manual, a challenger that passes every gate waits as the
`candidate` alias. Approve releases it exactly as an automatic promotion does: production
moves, the history records who approved and why, and CD is told once. A candidate compared
with a champion that is no longer in production is refused: its evidence is stale.""",
        """\
  driftloop approve 4 --reason "checked the slices with the fraud team"
  driftloop approve 4 --reason "ready for Monday" --model co2""",
    ),
    "reject": (
        "refuse the candidate waiting for approval; nothing ships",
        """\
Refuse the pending `candidate` (see `approve`): the alias is removed and the refusal, with
its reason, is recorded on the version and in the history. Production does not move.""",
        """\
  driftloop reject 4 --reason "trained on the week of the outage"
  driftloop reject 4 --reason "a fix is on its way" --spec examples/co2/spec.yaml""",
    ),
    "split": (
        "cut one history file into the spec's reference and time-ordered batches",
        """\
Cut one history file (CSV or Parquet) into the spec's reference, the oldest rows, and
time-ordered batches in the spec's incoming folder, ready for `run` or `simulate`. Nothing
is overwritten: split into a project without that data.""",
        """\
  driftloop split examples/seattle_weather/history.csv \\
      --spec examples/seattle_weather/spec.yaml --reference-until 2013-01-01 --every QS
  driftloop split history.parquet --spec spec.yaml --reference-fraction 0.6 --rows 500""",
    ),
    "suite": (
        "derive the GE expectation suites from the reference",
        """\
Derive the Great Expectations suites (schema, types, ranges, categories, nulls) from the
dataset's reference, and report how many of the reference's own newer slices they would
reject: a suite that rejects good data is too tight.""",
        """\
  driftloop suite
  driftloop suite --spec examples/co2/spec.yaml""",
    ),
}


class _Version(argparse.Action):
    """`--version`, read from the installed distribution only when asked for."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(f"{PROG} {installed_version()}")  # on stdout, as argparse's own version action
        parser.exit()


def installed_version() -> str:
    """The version of the installed `driftloop` distribution."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "(not installed: run `uv sync`)"


def _verbosity_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # On the sub-commands the options default to SUPPRESS, so that one not given after the
    # command leaves the value given before it (`driftloop -v run`) in place.
    unset: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        help="show Prefect's and MLflow's own lines and tracebacks (-vv: debug lines)",
        **({"default": 0} if top else unset),
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="show only each batch's line, warnings and errors",
        **({"default": False} if top else unset),
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for `driftloop`."""
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=HELP_FORMAT
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    _verbosity_options(parser, top=True)
    common = argparse.ArgumentParser(add_help=False)
    _verbosity_options(common, top=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    added = {}
    for name, (short, description, examples) in COMMANDS.items():
        added[name] = commands.add_parser(
            name,
            help=short,
            description=description,
            epilog=f"examples:\n{examples}",
            formatter_class=HELP_FORMAT,
            parents=[common],
        )
    _run_options(added["run"], added["monitor"])
    added["demo"].add_argument(
        "--yes", action="store_true", help="remove local state the demo did not make, too"
    )
    added["demo"].add_argument(
        "--dataset",
        choices=DEMO_DATASETS,
        default=DEMO_DATASETS[0],
        help="which built-in demo to run (default: %(default)s)",
    )
    _simulate_options(added["simulate"])
    _score_options(added["score"])
    added["history"].add_argument("--spec", type=Path, help="dataset spec YAML")
    rollback = added["rollback"]
    rollback.add_argument("--spec", type=Path, help="dataset spec YAML")
    rollback.add_argument("--to", dest="to_version", help="version to put back in production")
    rollback.add_argument("--reason", default="manual rollback", help="recorded in the history")
    for verdict in ("approve", "reject"):
        command = added[verdict]
        command.add_argument("version", nargs="?", help="the candidate's version (default: it)")
        which = command.add_mutually_exclusive_group()
        which.add_argument("--model", help="the registered model (default: the spec's)")
        which.add_argument("--spec", type=Path, help="dataset spec YAML")
        command.add_argument("--reason", required=True, help="recorded in the history")
    _data_options(added["data"])
    _split_options(added["split"])
    added["suite"].add_argument("--spec", type=Path, help="dataset spec YAML")
    return parser


def verbosity(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """QUIET (-q), DEFAULT, or the number of -v given; -q with -v is a usage error."""
    if args.quiet and args.verbose:
        parser.error("-q and -v contradict each other; pass one of them")
    return QUIET if args.quiet else DEFAULT + int(args.verbose)


def _run_options(run: argparse.ArgumentParser, monitor: argparse.ArgumentParser) -> None:
    run.add_argument("--spec", type=Path, help="dataset spec YAML (default: DRIFTLOOP_PATHS__SPEC)")
    run.add_argument("--batch", type=Path, help="process this batch file instead of the next one")
    run.add_argument("--force-retrain", action="store_true", help="retrain whatever drift says")
    monitor.add_argument("--spec", type=Path, help="dataset spec YAML")
    monitor.add_argument("--batch", type=Path, help="measure this batch file")


def _simulate_options(simulate: argparse.ArgumentParser) -> None:
    simulate.add_argument("--spec", type=Path, required=True, help="dataset spec YAML")
    simulate.add_argument("--batches", type=Path, required=True, help="folder of batch files")
    simulate.add_argument("--out", type=Path, required=True, help="output folder")
    simulate.add_argument(
        "--policy",
        choices=get_args(PolicyName),
        help="named retrain policy (default: DRIFTLOOP_POLICY__NAME or 'default')",
    )


def _score_options(score: argparse.ArgumentParser) -> None:
    score.add_argument("--batch", type=Path, required=True, help="CSV or Parquet file to score")
    score.add_argument("--spec", type=Path, help="dataset spec YAML")
    score.add_argument(
        "--out", type=Path, help="output file (default: DRIFTLOOP_PATHS__PREDICTIONS)"
    )


def _data_options(data: argparse.ArgumentParser) -> None:
    data.add_argument("version", help="a version number, or an alias (production, previous, ...)")
    model = data.add_mutually_exclusive_group()
    model.add_argument("--model", help="the registered model (default: the spec's)")
    model.add_argument("--spec", type=Path, help="dataset spec YAML")
    data.add_argument(
        "--restore",
        type=Path,
        metavar="DIR",
        help="write the training files under DIR (each at its project path), sha256-checked",
    )


def _split_options(split: argparse.ArgumentParser) -> None:
    split.add_argument("file", type=Path, help="the history (CSV or Parquet)")
    split.add_argument("--spec", type=Path, help="dataset spec YAML: where the parts go")
    where = split.add_mutually_exclusive_group(required=True)
    where.add_argument("--reference-until", help="the reference is every row up to this time")
    where.add_argument("--reference-fraction", type=float, help="or this oldest share of rows")
    size = split.add_mutually_exclusive_group(required=True)
    size.add_argument("--every", help="one batch per period, e.g. 1W, 28D, MS (by the timestamp)")
    size.add_argument("--rows", type=int, help="or one batch per this many rows")
