"""Mistakes a command would meet late, found before Prefect or any stage library starts.

A spec typo, a reference or history that is missing or lacks a column the spec names, a batch
that is missing, outside incoming or without a column the spec names, a replay's folders, and
local state the demo did not make are found in about a second; the flows check them again.
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from config.errors import ConfigError, SpecError
from config.settings import Settings, redact_url
from config.spec import DatasetSpec, check_inside, lies_inside, load_spec
from demo_data.workspace import StatePath, foreign_state
from runs.batches import (
    BATCH_SUFFIXES,
    check_named_batch,
    check_replay_folders,
    file_columns,
    list_batches,
    partition_files_or_none,
)
from runs.errors import BatchReadError
from runs.pieces import history_features

# What pandas and pyarrow raise for a header they cannot parse.
HEADER_ERRORS = (ValueError, OSError, OverflowError, csv.Error, pa.ArrowException)
SHOWN_COLUMNS = 12
SHOWN_PATHS = 3


def checked_spec(settings: Settings, spec: str | None) -> DatasetSpec:
    """The dataset spec a run names (or the configured one), checked as every flow checks it.

    A spec named by a run's parameter (which anyone who reaches the Prefect server can set)
    stays inside the project; the configured one is the operator's.

    Raises:
        SpecError: the spec is wrong, lies outside the project, or its reference is missing or
            lacks a column the spec names.
    """
    path = Path(spec) if spec else settings.paths.spec
    dataset = load_spec(path)
    if spec and not settings.paths.allow_outside_project:
        check_inside(path, dataset, Path.cwd())
    check_reference_columns(dataset)
    looking_back = history_features(dataset)
    if settings.engine.kind == "dask" and looking_back:
        raise SpecError(
            f"the dask engine reads data piece by piece, and {dataset.name}'s derived columns "
            f"{looking_back} look back across rows of other files: run this dataset with "
            "DRIFTLOOP_ENGINE__KIND=local"
        )
    return dataset


def check_reference_columns(dataset: DatasetSpec) -> None:
    """Refuse a reference that is missing, unreadable, or lacks a column the spec names.

    Raises:
        SpecError: names the file, each missing column with the spec field naming it, the fix.
    """
    path = dataset.reference
    if not path.is_file() and not (path.is_dir() and partition_files_or_none(path)):
        if _tracked_by_dvc(path):
            raise SpecError(
                f"reference {_shown(path)} not found, but DVC tracks it: `dvc pull {_shown(path)}` "
                "brings it back (a clone has the DVC pointers, not the data)"
            )
        raise SpecError(
            f"reference {_shown(path)} not found; fix `reference` in the dataset spec, or make the "
            "file (`driftloop split` cuts one from a history)"
        )
    try:
        present = file_columns(path)
    except HEADER_ERRORS as exc:
        raise SpecError(
            f"reference {_shown(path)} is not a readable table ({exc}); fix the file"
        ) from None
    _check_columns("the reference", path, present, labelled_columns(dataset), dataset)


def _tracked_by_dvc(path: Path) -> bool:
    """Whether a DVC pointer in the project tracks `path` (asked only when it is missing)."""
    from runs import versions  # noqa: PLC0415 (loads DVC: only for a missing reference)

    store, _ = versions.open_store(Path.cwd())
    return store is not None and versions.is_tracked(store, path)


def labelled_columns(dataset: DatasetSpec) -> list[str]:
    """What a labelled file (a reference, a history) must carry: the target's inputs too."""
    labels = (c for c in dataset.label_columns if c not in dataset.derived)
    return list(dict.fromkeys([*dataset.required_columns, *labels]))


def check_run_inputs(
    settings: Settings, *, spec: str | None, batch: str | None, scoring: bool = False
) -> None:
    """Check what a `run`, `monitor` or `score` command names, as its flow will.

    A batch to score must carry every column the spec requires (its header or schema alone is
    read). A batch to run or monitor that lacks one is left to the gate, which quarantines it
    with its validation result, as it would the same file found without --batch: the data is
    at fault, not the command.

    Raises:
        ConfigError: the first mistake found, with its fix (SpecError for the spec).
    """
    dataset = checked_spec(settings, spec)
    if batch is None:
        return
    path = Path(batch)
    if not path.exists():
        incoming = _shown(dataset.incoming)
        fix = (
            "check the path (any CSV or Parquet file inside the project)"
            if scoring
            else f"name a file in {incoming}, or leave out --batch to take the next one"
        )
        raise ConfigError(f"batch {batch} does not exist; {fix}")
    if not scoring:  # any file inside the project may be scored; the flow checks where it lies
        try:
            check_named_batch(path, dataset.incoming)
        except BatchReadError as exc:
            raise ConfigError(str(exc)) from None
        return
    check_batch_columns(dataset, path)


def check_batch_columns(dataset: DatasetSpec, path: Path) -> None:
    """Refuse a batch whose header lacks a column the spec requires (the target may be missing).

    A file whose header cannot be read is left to the gate, which reports why.

    Raises:
        ConfigError: names each missing column, the spec field naming it, and the closest column.
    """
    folder = path.is_dir() and bool(partition_files_or_none(path))
    if not folder and (not path.is_file() or path.suffix.lower() not in BATCH_SUFFIXES):
        return
    try:
        present = file_columns(path)
    except HEADER_ERRORS:
        return
    _check_columns("batch", path, present, dataset.required_columns, dataset)


def check_replay_inputs(spec: Path, batches: Path, out: Path) -> DatasetSpec:
    """Check what `simulate` names: its spec and reference, the batches, the output folder.

    Raises:
        ConfigError: the first mistake found, with its fix.
    """
    dataset = load_spec(spec)
    check_reference_columns(dataset)
    if not batches.is_dir():
        raise ConfigError(
            f"batches folder {batches} not found; pass --batches the folder that holds the "
            "batch files"
        )
    if not list_batches(batches):
        raise ConfigError(
            f"batches folder {batches} holds no .csv or .parquet files; pass --batches the "
            "folder that holds them"
        )
    check_replay_folders(batches, out, dataset.reference)
    return dataset


def check_split_inputs(settings: Settings, spec: Path | None, history: Path) -> DatasetSpec:
    """Check what `split` names: the spec, and a history that carries every column it names.

    Raises:
        ConfigError: the first mistake found, with its fix.
    """
    dataset = load_spec(spec or settings.paths.spec)
    if not history.is_file():
        raise ConfigError(f"history {history} does not exist; check the path")
    try:
        present = file_columns(history)
    except HEADER_ERRORS:
        return dataset  # reading it in full says why, with the file's name
    _check_columns("the history", history, present, labelled_columns(dataset), dataset)
    return dataset


def check_demo_consent(settings: Settings, home: Path, *, yes: bool) -> None:
    """Refuse a demo that would remove local state it did not make, unless `yes`.

    Raises:
        ConfigError: names the places and what they hold, and the two ways on.
    """
    if yes:
        return
    foreign = foreign_state(settings.paths, settings.mlflow, home)
    if foreign:
        raise ConfigError(_describe_foreign(foreign, home))
    beyond = _demo_reach(settings, home)
    if beyond:
        raise ConfigError(
            f"the demo would {' and '.join(beyond)}: unset those settings for the demo (it "
            "needs none), or pass --yes"
        )


def _demo_reach(settings: Settings, home: Path) -> list[str]:
    """What the demo would touch beyond this project with the settings it runs under."""
    reach = []
    uri = settings.mlflow.tracking_uri
    local = uri.startswith("sqlite:///") and lies_inside(Path(uri.removeprefix("sqlite:///")), home)
    if not local:
        where = "DRIFTLOOP_MLFLOW__TRACKING_URI or MLFLOW_TRACKING_URI"
        reach.append(f"register its models in {redact_url(uri)} ({where})")
    if settings.github.token is not None:
        reach.append(f"ask {settings.github.repo}'s CD to ship them (DRIFTLOOP_GITHUB__TOKEN)")
    if settings.notify.webhook_url is not None:
        reach.append("post to your channel (DRIFTLOOP_NOTIFY__WEBHOOK_URL)")
    paths = settings.paths
    outside = (
        ("PATHS__LEDGER", paths.ledger),
        ("PATHS__REPORTS", paths.reports),
        ("PATHS__QUARANTINE", paths.quarantine),
        ("PATHS__PREDICTIONS", paths.predictions),
        ("PATHS__GX_ROOT", paths.gx_root),
        ("MLFLOW__ARTIFACT_ROOT", settings.mlflow.artifact_root),
    )
    for name, path in outside:
        if not lies_inside(home / path, home):
            reach.append(f"write to {path} (DRIFTLOOP_{name})")
    return reach


def _describe_foreign(places: list[StatePath], home: Path) -> str:
    names = [_shown(p.path, home) for p in places]
    if len(names) > SHOWN_PATHS:
        names = [*names[:SHOWN_PATHS], f"{len(places) - SHOWN_PATHS} more"]
    where = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    verb, it = ("holds", "it") if len(places) == 1 else ("hold", "them")
    kinds = ", ".join(dict.fromkeys(p.kind for p in places))
    return (
        f"{where} {verb} state the demo did not create ({kinds}); pass --yes to remove {it} "
        "(make run YES=1), or run the demo in a fresh clone"
    )


def _shown(path: Path, home: Path | None = None) -> str:
    """`path` as the user would type it: relative to the project when inside it."""
    root, resolved = (home or Path.cwd()).resolve(), path.resolve()
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else str(path)


def _check_columns(
    what: str, path: Path, present: Iterable[str], needed: Iterable[str], dataset: DatasetSpec
) -> None:
    have = [str(c) for c in present]
    missing = [c for c in dict.fromkeys(needed) if c not in have]
    if not missing:
        return
    named = ", ".join(f"{c!r} ({dataset.role_of(c)})" for c in missing)
    hints = [
        f"{close[0]!r} for {c!r}"
        for c in missing
        if (close := difflib.get_close_matches(c, have, n=1, cutoff=0.6))
    ]
    if hints:
        fix = f"did you mean {', '.join(hints)}?"
    else:
        shown = ", ".join(sorted(have)[:SHOWN_COLUMNS]) + (
            ", ..." if len(have) > SHOWN_COLUMNS else ""
        )
        fix = f"it has: {shown}"
    raise SpecError(
        f"{what} {_shown(path)} lacks {named}, named in the dataset spec; fix the spec or the "
        f"file ({fix})"
    )
