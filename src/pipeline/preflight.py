"""Mistakes a run would meet late, found before Prefect or any stage library starts.

A spec typo, a reference that is missing or lacks a column the spec names, and a batch that is
missing or outside incoming are found in about a second; the flow itself checks them again.
"""

from __future__ import annotations

from pathlib import Path

from config.errors import ConfigError
from config.settings import Settings
from config.spec import DatasetSpec, check_inside, load_spec
from runs.batches import check_named_batch, check_reference
from runs.errors import BatchReadError


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
    check_reference(dataset)
    return dataset


def check_run_inputs(
    settings: Settings, *, spec: str | None, batch: str | None, scoring: bool = False
) -> None:
    """Check what a `run`, `monitor` or `score` command names, as its flow will.

    Raises:
        ConfigError: the first mistake found, with its fix (SpecError for the spec).
    """
    dataset = checked_spec(settings, spec)
    if batch is None:
        return
    if scoring:  # any file inside the project; the flow checks where it lies
        if not Path(batch).is_file():
            raise ConfigError(f"batch {batch} does not exist")
        return
    try:
        check_named_batch(Path(batch), dataset.incoming)
    except BatchReadError as exc:
        raise ConfigError(str(exc)) from None
