"""The dataset spec: what a dataset looks like, loaded from a small YAML file."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
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

from config.derived import DerivedFeature
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


class TextFeaturizer(BaseModel):
    """How each text column becomes model inputs: TF-IDF over word (and character) n-grams.

    Each analyzer keeps at most `max_features` terms per column (the most frequent of those in
    at least `min_df` training rows); `None` turns an analyzer off. Character n-grams are off
    by default: they add many stored values per row, and training time grows with them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_features: int = Field(default=1000, ge=1)
    word_ngrams: tuple[int, int] | None = (1, 2)
    char_ngrams: tuple[int, int] | None = None
    min_df: int = Field(default=2, ge=1)
    sublinear_tf: bool = False

    @field_validator("word_ngrams", "char_ngrams")
    @classmethod
    def _is_a_range(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not 1 <= value[0] <= value[1]:
            raise ValueError(
                f"{list(value)} is not an n-gram range: give [low, high], 1 <= low <= high"
            )
        return value

    @model_validator(mode="after")
    def _has_an_analyzer(self) -> TextFeaturizer:
        if self.word_ngrams is None and self.char_ngrams is None:
            raise ValueError("set word_ngrams or char_ngrams (or both)")
        return self


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
    # Columns computed from others (see `config.derived`): features, numeric unless listed under
    # features.categorical, or the target itself.
    derived: dict[str, DerivedFeature] = Field(default_factory=dict)
    # How features.text columns are turned into model inputs.
    text_features: TextFeaturizer = Field(default_factory=TextFeaturizer)

    @model_validator(mode="before")
    @classmethod
    def _derived_are_features(cls, raw: Any) -> Any:
        """List each derived column (but the target) among the numeric features, unless named."""
        if not isinstance(raw, dict) or not isinstance(raw.get("derived"), dict):
            return raw
        features = raw.get("features")
        if not isinstance(features, dict):
            return raw
        kinds = ("numeric", "categorical", "text")
        listed = {c for kind in kinds for c in features.get(kind) or ()}
        extra = [n for n in raw["derived"] if n not in listed and n != raw.get("target")]
        numeric = [*(features.get("numeric") or ()), *extra]
        return {**raw, "features": {**features, "numeric": numeric}}

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
        if not kinds.all:
            raise ValueError("features: list at least one numeric, categorical or text column")
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
    def _derived_are_sound(self) -> DatasetSpec:
        check_derived(self)
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
        """Numeric and categorical columns the model is trained on, as they are.

        Text columns are model inputs too, through the featurizer (see `text_features`).
        """
        return self.features.numeric + self.features.categorical

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns every batch must carry (the target may be missing from unlabelled batches).

        Derived columns are computed, so their sources are required in their place (but for the
        columns the target is computed from, which only labelled batches carry).
        """
        extra = tuple(c for c in (self.id, self.timestamp) if c is not None)
        raw = tuple(c for c in self.feature_columns if c not in self.derived)
        labels = self.label_columns
        sources = (s for d in self.derived.values() for s in d.sources)
        inputs = tuple(s for s in sources if s not in self.derived and s not in labels)
        return tuple(dict.fromkeys(extra + raw + inputs))

    @property
    def label_columns(self) -> tuple[str, ...]:
        """The target and, when it is derived, the columns it is computed from."""
        found, todo = [], [self.target]
        while todo:
            column = todo.pop()
            if column not in found:
                found.append(column)
                todo += self.derived[column].sources if column in self.derived else ()
        return tuple(found)

    @property
    def served_columns(self) -> tuple[str, ...]:
        """What the served model takes: raw columns and history-based derived features.

        A caller supplies lags, rolling statistics and differences; row-local derived features
        are computed from their sources inside the model, and so are text columns' features.
        """
        wanted: list[str] = []

        def add(column: str) -> None:
            feature = self.derived.get(column)
            if feature is None or feature.uses_history:
                wanted.append(column)
            else:
                for source in feature.sources:
                    add(source)

        for column in self.model_columns:
            add(column)
        return tuple(dict.fromkeys(wanted + list(self.features.text)))

    @property
    def column_types(self) -> ColumnTypes:
        """How this dataset's files are read: categories as text, the timestamp parsed."""
        return ColumnTypes(
            self.features.categorical, self.timestamp, self.timestamp_format, self.timezone
        )

    def role_of(self, column: str) -> str:
        """The spec field that names `column` (e.g. "features.numeric", "derived.month")."""
        roles = {self.target: "target", self.id: "id", self.timestamp: "timestamp"}
        for kind in ("numeric", "categorical", "text"):
            roles |= dict.fromkeys(getattr(self.features, kind), f"features.{kind}")
        if column in roles and column not in self.derived:
            return roles[column]
        readers = [n for n, f in self.derived.items() if column in f.sources]
        return f"read by derived.{readers[0]}" if readers else "the spec"

    def unnamed_columns(self, columns: Iterable[str]) -> list[str]:
        """The columns of a batch the spec does not name: reported, never used."""
        named = {*self.required_columns, *self.label_columns, *self.derived}
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


def check_derived(spec: DatasetSpec) -> None:
    """Refuse derived columns that cannot be computed, or that would leak the target.

    Raises:
        ValueError: names the column and the fix.
    """
    labels, defined = set(spec.label_columns), set()
    for name, feature in spec.derived.items():
        where = f"derived.{name}"
        if name in feature.sources:
            raise ValueError(f"{where} reads itself: give it another name")
        if name in spec.features.text or name in (spec.id, spec.timestamp):
            raise ValueError(f"{where}: a derived column is a feature or the target, not {name!r}")
        for source in feature.sources:
            if source in spec.derived and source not in defined:
                raise ValueError(f"{where} reads {source!r}: define {source!r} above it")
        if feature.timed_window is not None and spec.timestamp is None:
            raise ValueError(f"{where}: a window of {feature.window} needs the spec's timestamp")
        defined.add(name)
        if name == spec.target:
            if feature.kind in ("lag", "rolling"):
                raise ValueError(f"{where}: the target cannot be a {feature.kind} of earlier rows")
            continue
        leaked = [s for s in feature.sources if s in labels]
        if leaked and feature.kind not in ("lag", "rolling"):
            raise ValueError(
                f"{where}: a {feature.kind} of {leaked[0]!r} would leak the target into its "
                "features; use a lag or a rolling statistic (they read earlier rows only)"
            )
    for column in spec.feature_columns:
        if column in labels and column != spec.target:
            raise ValueError(
                f"features: {column!r} is what the target is computed from; the model may "
                "only see its lags"
            )
    target = spec.derived.get(spec.target)
    if target is not None and target.kind == "diff" and level_lag(spec) is None:
        source = target.sources[0]
        raise ValueError(
            f"derived.{spec.target}: to score a difference back as the level of {source!r}, add "
            f"{source}_lag_{target.periods}: {{lag: {source}, periods: {target.periods}}}"
        )


def level_lag(spec: DatasetSpec) -> str | None:
    """For a `diff` target, the lag feature that turns a predicted change back into a level."""
    target = spec.derived.get(spec.target)
    if target is None or target.kind != "diff":
        return None
    for name, feature in spec.derived.items():
        same = feature.sources == target.sources and feature.periods == target.periods
        if feature.kind == "lag" and same and name in spec.model_columns:
            return name
    return None


def check_inside(path: Path, spec: DatasetSpec, root: Path) -> None:
    """Refuse a spec file, or data it names, that lies outside `root` (links followed).

    Raises:
        SpecError: naming each such path and the setting that allows them.
    """
    home = root.resolve()
    named = {"the spec file": path, "reference": spec.reference, "incoming": spec.incoming}
    outside = [f"{what} {where}" for what, where in named.items() if not lies_inside(where, home)]
    if outside:
        raise SpecError(
            f"{', '.join(outside)} outside the project {home}: move it inside, or set "
            "DRIFTLOOP_PATHS__ALLOW_OUTSIDE_PROJECT=true if that is meant"
        )


def lies_inside(path: Path, home: Path) -> bool:
    """Whether `path` (relative ones from `home`; links followed) lies inside the folder `home`."""
    return (path if path.is_absolute() else home / path).resolve().is_relative_to(home.resolve())
