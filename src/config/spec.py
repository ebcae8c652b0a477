"""The dataset spec: what a dataset looks like, loaded from a small YAML file."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from config.errors import SpecError


class Task(StrEnum):
    """The kind of prediction the model makes."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"


class FeatureSpec(BaseModel):
    """Feature columns by kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    text: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[str, ...]:
        """Every feature column, numeric first."""
        return self.numeric + self.categorical + self.text


@dataclass(frozen=True)
class ColumnTypes:
    """How a file's columns are read as the spec declares them (see `runs.batches.read_batch`)."""

    categorical: tuple[str, ...] = ()
    timestamp: str | None = None
    timestamp_format: str | None = None
    timezone: str | None = None


class DatasetSpec(BaseModel):
    """A dataset: its target, task, columns, slices to check and where its data lives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    task: Task
    target: str
    timestamp: str | None = None
    # How text timestamps are parsed (e.g. "%d/%m/%Y %H:%M"; default: ISO 8601 and the like),
    # and the time zone of those that carry none (aware ones are converted to it).
    timestamp_format: str | None = None
    timezone: str | None = None
    id: str | None = None
    features: FeatureSpec
    reference: Path
    incoming: Path
    # Feature columns whose groups a challenger must not lose on, one by one, to be promoted;
    # numeric ones are cut into `slice_bins` quantile bins of the holdout.
    slices: tuple[str, ...] = ()
    slice_bins: int = Field(default=4, ge=2)

    @field_validator("timezone")
    @classmethod
    def _is_a_time_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r} (e.g. UTC, Europe/Berlin)") from None
        return value

    @field_validator("reference", "incoming")
    @classmethod
    def _stays_inside_the_project(cls, value: Path) -> Path:
        if not value.is_absolute() and ".." in value.parts:
            raise ValueError("a relative path may not contain '..'; use an absolute path")
        return value

    @model_validator(mode="after")
    def _columns_are_consistent(self) -> DatasetSpec:
        kinds = self.features
        if not kinds.numeric and not kinds.categorical:
            raise ValueError("features: list at least one numeric or categorical column")
        seen: dict[str, str] = {}
        named: list[tuple[str, str | None]] = [("target", self.target)]
        named += [("timestamp", self.timestamp), ("id", self.id)]
        named += [
            (f"features.{kind}", col)
            for kind in ("numeric", "categorical", "text")
            for col in getattr(kinds, kind)
        ]
        for role, column in named:
            if column is None:
                continue
            if column in seen:
                raise ValueError(
                    f"column {column!r} is listed as both {seen[column]} and {role}: "
                    "give each column one role"
                )
            seen[column] = role
        return self

    @model_validator(mode="after")
    def _slices_are_model_features(self) -> DatasetSpec:
        for index, column in enumerate(self.slices):
            if column in self.slices[:index]:
                raise ValueError(f"slices: {column!r} is listed twice: list each column once")
            if column in self.features.text:
                raise ValueError(
                    f"slices: {column!r} is a text column: slice by a numeric or categorical "
                    "feature"
                )
            if column not in self.model_columns:
                raise ValueError(
                    f"slices: {column!r} is not a feature column: list a column from "
                    "features.numeric or features.categorical"
                )
        return self

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """Columns the model reads."""
        return self.features.all

    @property
    def model_columns(self) -> tuple[str, ...]:
        """Columns the model is trained on (text columns are monitored, not modelled yet)."""
        return self.features.numeric + self.features.categorical

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns every batch must carry (the target may be missing from unlabelled batches)."""
        extra = tuple(c for c in (self.id, self.timestamp) if c is not None)
        return extra + self.feature_columns

    @property
    def column_types(self) -> ColumnTypes:
        """How this dataset's files are read: categories as text, the timestamp parsed."""
        return ColumnTypes(
            self.features.categorical, self.timestamp, self.timestamp_format, self.timezone
        )

    def unnamed_columns(self, columns: Iterable[str]) -> list[str]:
        """The columns of a batch the spec does not name: reported, never used."""
        named = {*self.required_columns, self.target}
        return [c for c in columns if c not in named]

    def resolve(self, base: Path) -> DatasetSpec:
        """Return a copy whose relative data paths are anchored at `base`."""
        return self.model_copy(
            update={"reference": base / self.reference, "incoming": base / self.incoming}
        )


def load_spec(path: Path, *, base: Path | None = None) -> DatasetSpec:
    """Load and check a dataset spec.

    Args:
        path: The YAML file.
        base: Directory that relative data paths in the spec are relative to; defaults to the
            current working directory, as for every other driftloop path.

    Returns:
        The validated spec with its data paths anchored at `base`.

    Raises:
        SpecError: the file is missing or not YAML, or a field is wrong; names the field and fix.
    """
    if not path.is_file():
        raise SpecError(f"dataset spec {path} not found: pass --spec or set DRIFTLOOP_PATHS__SPEC")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(f"dataset spec {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"dataset spec {path} must be a YAML mapping with name, task, target, ...")
    try:
        spec = DatasetSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(f"dataset spec {path} is invalid:\n  " + _explain(exc)) from None
    return spec.resolve(base if base is not None else Path.cwd())


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"]) or "(spec)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field: remove it or check its spelling"
        elif err["type"] == "enum":
            message = "must be one of: " + ", ".join(t.value for t in Task)
        lines.append(f"{field}: {message}")
    return "\n  ".join(lines)
