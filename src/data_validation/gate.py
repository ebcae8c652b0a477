"""Run a batch through its Great Expectations suite and turn the result into a plain outcome."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from great_expectations.checkpoint import UpdateDataDocsAction
from great_expectations.core.batch_definition import BatchDefinition
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context import FileDataContext
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.datasource.fluent import PandasDatasource

import great_expectations as gx
from config.spec import DatasetSpec
from data_validation.docs import use_text_views
from data_validation.suite import (
    MUST_VARY,
    build_suites,
    clock_times,
    every_row_suite,
    every_row_suite_name,
    must_vary,
    span_seconds,
    suite_columns,
    unlabelled_suite_name,
)

logger = logging.getLogger(__name__)

DATASOURCE = "driftloop"
BATCH_DEFINITION = "whole-batch"
SHOWN_CHARS = 60  # of an expectation argument, in failure messages
SAMPLE_SEED = 0  # a batch validated again is checked on the same rows


@dataclass(frozen=True)
class FailedExpectation:
    """One broken expectation, in words a person can act on."""

    expectation: str
    column: str | None
    detail: str

    def __str__(self) -> str:
        where = f"[{self.column}] " if self.column else ""
        return f"{where}{self.expectation}: {self.detail}"


@dataclass(frozen=True)
class ValidationOutcome:
    """What the gate said about one batch."""

    success: bool
    suite: str
    evaluated: int
    failures: tuple[FailedExpectation, ...]
    docs_url: str | None
    result: dict[str, Any]

    def describe(self) -> str:
        """The verdict in words for the decision record, listing every broken expectation."""
        if self.success:
            return f"passed suite `{self.suite}` ({self.evaluated} expectations)"
        broken = "\n".join(f"- {f}" for f in self.failures)
        return (
            f"FAILED suite `{self.suite}`: {len(self.failures)} of {self.evaluated} "
            f"expectations broken:\n\n{broken}"
        )


def open_context(root: Path) -> FileDataContext:
    """Open (creating on first use) the file-backed GX context rooted at `root`.

    Its Data Docs sites render with the views of `data_validation.docs`, so that batch values
    show as text.
    """
    root.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", context_root_dir=str(root.resolve()))
    assert isinstance(context, FileDataContext)  # mode="file" always returns one
    changed = use_text_views(context)
    if context.variables.progress_bars is None:
        # Progress bars write to stderr on every validation and flood the flow's logs.
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        changed = True
    if changed:
        context.variables.save()
    return context


def ensure_suites(
    context: FileDataContext,
    spec: DatasetSpec,
    load_reference: Callable[[], pd.DataFrame],
    *,
    rebuild: bool = False,
) -> list[str]:
    """Make sure the dataset's suites, validation definitions and checkpoints are stored.

    Suites are derived from the spec and the reference profile once and then kept (they are
    committed with the project); `rebuild=True` derives them again. The reference is read only
    when a suite has to be derived.

    Returns:
        The names of the suites.
    """
    batch_definition = _batch_definition(context, spec.name)
    full = [spec.name, unlabelled_suite_name(spec.name)]
    names = full + [every_row_suite_name(name) for name in full]
    derived = rebuild or not all(_has_suite(context, name) for name in full)
    if derived:
        for suite in build_suites(spec, load_reference()):
            _store(context, suite)
    for name in full:
        if derived or not _has_suite(context, every_row_suite_name(name)):
            _store(context, every_row_suite(context.suites.get(name)))
    stored_checkpoints = {c.name for c in context.checkpoints.all()}
    for name in names:
        if not rebuild and name in stored_checkpoints:
            continue
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(
                name=name, data=batch_definition, suite=context.suites.get(name)
            )
        )
        context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=name,
                validation_definitions=[definition],
                actions=[UpdateDataDocsAction(name="update_data_docs")],
                result_format="SUMMARY",
            )
        )
    return names


def check_batch(
    root: Path,
    spec: DatasetSpec,
    frame: pd.DataFrame,
    load_reference: Callable[[], pd.DataFrame],
    *,
    sample_rows: int,
    batch: str | None = None,
) -> ValidationOutcome:
    """Validate a batch in the GX project at `root`, deriving the suites on first use.

    `batch` (the file's name) names the validation in Data Docs.
    """
    context = open_context(root)
    ensure_suites(context, spec, load_reference)
    return validate_frame(context, frame, spec, sample_rows=sample_rows, batch=batch)


def validate_frame(
    context: FileDataContext,
    frame: pd.DataFrame,
    spec: DatasetSpec,
    *,
    sample_rows: int = 0,
    batch: str | None = None,
) -> ValidationOutcome:
    """Validate a batch against the dataset's suite and build the Data Docs page for it.

    Batches without the target column are checked against the unlabelled variant of the suite.
    A batch of more than `sample_rows` rows (0: no limit) is checked on a random sample of that
    many rows, and the expectations every row must meet (unique ids, no missing timestamp, known
    labels) are checked again on every row: a sample would miss the one row that breaks them.

    Args:
        context: The GX context (suites stored, see `ensure_suites`).
        frame: The batch as read from disk.
        spec: The dataset spec.
        sample_rows: Rows the whole suite sees at most.
        batch: The batch file's name: the run name its results are listed under in Data Docs
            (their run names would otherwise read `__none__`).

    Returns:
        The outcome, with every failed expectation and the Data Docs URL of this result.
    """
    if sample_rows <= 0 or len(frame) <= sample_rows:
        return validate_sample(context, frame, spec, every_row=None, sample_rows=0, batch=batch)
    sample = frame.sample(n=sample_rows, random_state=SAMPLE_SEED)
    return validate_sample(
        context,
        sample,
        spec,
        every_row=lambda columns: frame[columns],
        sample_rows=sample_rows,
        batch=batch,
    )


def validate_sample(
    context: FileDataContext,
    sample: pd.DataFrame,
    spec: DatasetSpec,
    *,
    every_row: Callable[[list[str]], pd.DataFrame] | None,
    sample_rows: int,
    batch: str | None = None,
) -> ValidationOutcome:
    """Validate a batch seen through `sample`, and the every-row checks on all of its rows.

    `every_row(columns)` gives those columns of every row of the batch (the checks a sample
    would miss run on them); None means `sample` is the whole batch. `sample_rows` is the
    sample's size, quoted in failures found in it.
    """
    labelled = spec.target in sample.columns
    name = spec.name if labelled else unlabelled_suite_name(spec.name)
    # Both checks of one batch share a run, so Data Docs list them together.
    run = RunIdentifier(run_name=batch, run_time=datetime.now(UTC))
    when = spec.timestamp
    sampled = _validate(context, name, sample, timestamp=when, run=run)
    if every_row is None:
        return sampled
    suite = context.suites.get(every_row_suite_name(name))
    checked = (
        _validate(
            context,
            suite.name,
            every_row(suite_columns(suite, present=sample.columns)),
            timestamp=when,
            run=run,
        )
        if suite.expectations
        else None
    )
    return _combined(sampled, checked, sample_rows=sample_rows)


def _combined(
    sampled: ValidationOutcome, checked: ValidationOutcome | None, *, sample_rows: int
) -> ValidationOutcome:
    # A check that failed on every row is reported from there, not also from the sample.
    on_all_rows = checked.failures if checked else ()
    seen = {(f.expectation, f.column) for f in on_all_rows}
    failures = tuple(
        replace(f, detail=f"{f.detail} (in a sample of {sample_rows} rows)")
        for f in sampled.failures
        if (f.expectation, f.column) not in seen
    )
    success = sampled.success and (checked is None or checked.success)
    docs_url = sampled.docs_url
    if checked is not None and sampled.success and not checked.success:
        docs_url = checked.docs_url
    return ValidationOutcome(
        success=success,
        suite=sampled.suite,
        evaluated=sampled.evaluated + (checked.evaluated if checked else 0),
        failures=failures + on_all_rows,
        docs_url=docs_url,
        result={
            "success": success,
            "sample_rows": sample_rows,
            "validations": [sampled.result] + ([checked.result] if checked else []),
        },
    )


def _validate(
    context: FileDataContext,
    name: str,
    frame: pd.DataFrame,
    *,
    timestamp: str | None,
    run: RunIdentifier,
) -> ValidationOutcome:
    checkpoint = context.checkpoints.get(name)
    suite = checkpoint.validation_definitions[0].suite
    result = checkpoint.run(
        batch_parameters={"dataframe": frame},
        expectation_parameters=_variation_parameters(suite, frame, timestamp),
        run_id=run,
    )
    identifier, validation = next(iter(result.run_results.items()))
    failures = tuple(
        _describe(r.to_json_dict(), frame) for r in validation.results if not r.success
    )
    urls = context.get_docs_sites_urls(resource_identifier=identifier)
    docs_url = urls[0]["site_url"] if urls else None
    stats = validation.statistics
    logger.info(
        "validated %d rows against %s: %d of %d expectations failed",
        len(frame),
        name,
        len(failures),
        stats["evaluated_expectations"],
    )
    return ValidationOutcome(
        success=bool(result.success),
        suite=name,
        evaluated=int(stats["evaluated_expectations"]),
        failures=failures,
        docs_url=docs_url,
        result=json.loads(json.dumps(validation.to_json_dict(), default=str)),
    )


def _variation_parameters(
    suite: gx.ExpectationSuite, frame: pd.DataFrame, timestamp: str | None
) -> dict[str, int]:
    """The `min_value` of each must-vary check: 2 where this batch is long enough, else 0."""
    times = clock_times(frame, timestamp)
    parameters = {}
    for expectation in suite.expectations:
        meta = expectation.meta or {}
        parameter = getattr(expectation, "min_value", None)
        if meta.get("driftloop") != MUST_VARY or not isinstance(parameter, dict):
            continue
        column = getattr(expectation, "column", None)
        known = frame[column].notna().to_numpy() if column in frame.columns else np.array([])
        long_enough = must_vary(
            int(known.sum()),
            span_seconds(times[known]) if times is not None and known.any() else None,
            longer_than_rows=int(meta["longer_than_rows"]),
            longer_than_seconds=meta.get("longer_than_seconds"),
        )
        parameters[parameter["$PARAMETER"]] = 2 if long_enough else 0
    return parameters


def _describe(result: dict[str, Any], frame: pd.DataFrame) -> FailedExpectation:
    config = result["expectation_config"]
    kwargs = config.get("kwargs", {})
    details = result.get("result") or {}
    exception = (result.get("exception_info") or {}).get("exception_message")
    column = kwargs.get("column")
    if column is not None and column not in set(map(str, frame.columns)):
        detail = "column missing from the batch"
    elif exception:
        detail = exception.splitlines()[0]
    elif (config.get("meta") or {}).get("driftloop") == MUST_VARY:
        values = frame[column].dropna()
        detail = f"all {len(values)} values are {values.iloc[:1].tolist()[0]!r}; {config['notes']}"
    elif "unexpected_count" in details:
        sample = details.get("partial_unexpected_list", [])[:5]
        detail = (
            f"{details['unexpected_count']} unexpected values "
            f"({details.get('unexpected_percent', 0):.1f}%), e.g. {sample}"
        )
    elif "observed_value" in details:
        detail = f"observed {details['observed_value']!r}"
    else:
        detail = "failed"
    expected = {k: v for k, v in kwargs.items() if k not in {"column", "batch_id"}}
    label = config["type"] + (f"({_short(expected)})" if expected else "")
    return FailedExpectation(expectation=label, column=kwargs.get("column"), detail=detail)


def _short(kwargs: dict[str, Any]) -> str:
    parts = []
    for key, value in kwargs.items():
        text = repr(value)
        if len(text) > SHOWN_CHARS:
            text = text[:SHOWN_CHARS] + "..."
        parts.append(f"{key}={text}")
    return ", ".join(parts)


def _batch_definition(context: FileDataContext, dataset: str) -> BatchDefinition[Any]:
    if DATASOURCE in {s["name"] for s in context.list_datasources()}:
        source = cast("PandasDatasource", context.data_sources.get(DATASOURCE))
    else:
        source = context.data_sources.add_pandas(DATASOURCE)
    asset_name = dataset
    asset = (
        source.get_asset(asset_name)
        if asset_name in source.get_asset_names()
        else source.add_dataframe_asset(asset_name)
    )
    names = {d.name for d in asset.batch_definitions}
    if BATCH_DEFINITION in names:
        return asset.get_batch_definition(BATCH_DEFINITION)
    return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)


def _store(context: FileDataContext, suite: gx.ExpectationSuite) -> None:
    context.suites.add_or_update(suite)
    logger.info(
        "derived expectation suite %s (%d expectations)", suite.name, len(suite.expectations)
    )


def _has_suite(context: FileDataContext, name: str) -> bool:
    """Whether the suite is stored and readable.

    A file cut off or edited into something that is not JSON is set aside (renamed
    `.broken`), so the suite is derived again instead of every run failing on it.
    """
    path = Path(str(context.root_directory)) / "expectations" / f"{name}.json"
    if not path.is_file():
        return False
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        kept = path.with_name(f"{path.name}.broken")
        path.replace(kept)
        logger.warning(
            "suite %s is not readable (cut off or edited?): set aside as %s and derived again "
            "from the reference",
            path,
            kept.name,
        )
        return False
    return True
