"""Compute a spec's derived columns: one function for training, monitoring and scoring.

Lags, rolling statistics and differences read earlier rows, in time order (the spec's
timestamp, else file order), and cross batch boundaries: a batch's first rows look back into
the history before it (the accepted batches and the reference, never a rejected file). The
columns the target is computed from (`DatasetSpec.label_columns`) never reach a feature at
their own row: their rolling statistics cover the rows before the current one. Row-local
features (date parts, durations, ratios) come from `training.row_features`, which the served
model runs too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from config.derived import DerivedFeature
from config.manifest import Manifest
from config.spec import DatasetSpec
from runs.batches import content_hash, read_batch, read_manifest
from runs.categories import with_text_categories
from runs.ledger import history_files
from training.row_features import row_feature

_BATCH = "__driftloop_batch_row"


def derive(
    frame: pd.DataFrame, spec: DatasetSpec, *, history: pd.DataFrame | None = None
) -> pd.DataFrame:
    """`frame` with the spec's derived columns computed (replacing any of those names).

    A derived column is computed when the batch carries its sources; a lag or rolling statistic
    of a label column is computed from the history alone when the batch has no labels. The
    target is computed only for labelled rows' files (an unlabelled batch stays unlabelled).

    Args:
        frame: The batch (or the reference, or training files in order), read as the spec says.
        spec: The dataset spec.
        history: Rows before `frame` (see `read_history`), or None.
    """
    if not spec.derived:
        return frame
    combined = _with_history(frame, history)
    ordered = _time_order(combined, spec.timestamp)
    labels = set(spec.label_columns)
    computed: dict[str, pd.Series] = {}  # over the history and the batch together
    emitted: list[str] = []  # what the batch gets
    for name, feature in spec.derived.items():
        if not all(s in ordered.columns or s in computed for s in feature.sources):
            continue
        columns = [computed[s] if s in computed else ordered[s] for s in feature.sources]
        if feature.uses_history:
            label = feature.sources[0] in labels
            computed[name] = _from_history(feature, columns, ordered, spec, label=label)
        else:
            computed[name] = row_feature(
                feature.as_schema(name),
                columns,
                time_format=spec.timestamp_format,
                timezone=spec.timezone,
            )
        carried = all(s in frame.columns or s in emitted for s in feature.sources)
        from_labels = feature.uses_history and all(s in labels for s in feature.sources)
        if carried or (from_labels and name != spec.target):
            emitted.append(name)
    rows = ordered[_BATCH].to_numpy()
    mine = rows >= 0
    back = rows[mine].argsort()  # the batch's rows in their own order again
    out = frame.assign(**{n: computed[n].to_numpy()[mine][back] for n in emitted})
    return with_text_categories(out, [c for c in spec.features.categorical if c in emitted])


def history_rows(spec: DatasetSpec) -> tuple[int, pd.Timedelta | None]:
    """How far back the spec's derived columns look: rows, and a time span if any window is one.

    A lag of a difference looks back over both (52 weeks of a weekly change need 53 rows).
    """
    rows: dict[str, int] = {}
    for name, feature in spec.derived.items():
        rows[name] = feature.lookback_rows + max(
            (rows.get(s, 0) for s in feature.sources), default=0
        )
    spans = [f.timed_window for f in spec.derived.values() if f.timed_window is not None]
    return max(rows.values(), default=0), max(spans) if spans else None


def read_history(
    paths: Sequence[Path], spec: DatasetSpec, *, read: Callable[[Path], pd.DataFrame] | None = None
) -> pd.DataFrame | None:
    """The newest rows of `paths` (oldest first) that the derived columns look back over.

    Files are read from the newest until they hold enough rows (and time) or run out; None when
    no derived column reads earlier rows.
    """
    rows, span = history_rows(spec)
    if rows == 0 and span is None:
        return None
    reader = read or (lambda p: read_batch(p, types=spec.column_types))
    wanted = list(dict.fromkeys(c for c in (*_history_sources(spec), spec.timestamp) if c))
    frames: list[pd.DataFrame] = []
    held = 0
    for path in reversed(paths):
        if not path.is_file():
            continue
        frame = reader(path)
        frames.insert(0, frame[[c for c in wanted if c in frame.columns]])
        held += len(frame)
        if held >= rows and (span is None or _covers(frames, spec.timestamp, span)):
            break
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def history_before(spec: DatasetSpec, ledger_path: Path, batch: Path) -> pd.DataFrame | None:
    """The history a batch's derived columns look back on; None when none reads earlier rows.

    That is `read_history` of the reference and the ledger's accepted files.
    """
    if history_rows(spec) == (0, None):
        return None
    before = content_hash(batch)
    files = history_files(ledger_path, spec.reference, before=before, dataset=spec.name)
    return read_history(files, spec)


def read_derived(path: Path, spec: DatasetSpec, ledger_path: Path) -> pd.DataFrame:
    """A batch read as the spec says, its derived columns computed on the ledger's history."""
    frame = read_batch(path, types=spec.column_types)
    return derive(frame, spec, history=history_before(spec, ledger_path, path))


def read_training_data(
    manifest: Manifest,
    root: Path,
    spec: DatasetSpec,
    *,
    source_column: str | None = None,
    known: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """The manifest's files in order (see `runs.batches.read_manifest`), derived columns added.

    The files are one history, so a file's first lags read the file before it.
    """
    frame = read_manifest(
        manifest, root, source_column=source_column, known=known, types=spec.column_types
    )
    return derive(frame, spec)


def _history_sources(spec: DatasetSpec) -> list[str]:
    """The raw columns every derived column is computed from, directly or through another."""
    return [s for f in spec.derived.values() for s in f.sources if s not in spec.derived]


def _covers(frames: list[pd.DataFrame], timestamp: str | None, span: pd.Timedelta) -> bool:
    if timestamp is None or timestamp not in frames[0].columns:
        return True
    times = pd.concat([f[timestamp] for f in frames if timestamp in f.columns])
    if not pd.api.types.is_datetime64_any_dtype(times.dtype):
        return True
    return bool(times.max() - times.min() >= span)


def _with_history(frame: pd.DataFrame, history: pd.DataFrame | None) -> pd.DataFrame:
    own = frame.reset_index(drop=True).assign(**{_BATCH: range(len(frame))})
    if history is None or history.empty:
        return own
    past = history.reset_index(drop=True).assign(**{_BATCH: -1})
    return pd.concat([past, own], ignore_index=True)


def _time_order(frame: pd.DataFrame, timestamp: str | None) -> pd.DataFrame:
    if timestamp is None or timestamp not in frame.columns:
        return frame
    times = frame[timestamp]
    if times.is_monotonic_increasing:
        return frame
    order = times.reset_index(drop=True).sort_values(kind="stable", na_position="last").index
    return frame.iloc[order.to_numpy()].reset_index(drop=True)


def _from_history(
    feature: DerivedFeature,
    columns: list[pd.Series],
    frame: pd.DataFrame,
    spec: DatasetSpec,
    *,
    label: bool,
) -> pd.Series:
    source = columns[0]
    if feature.kind == "lag":
        return source.shift(feature.periods)
    numbers = pd.to_numeric(source, errors="coerce").astype("float64")
    if feature.kind == "diff":
        return numbers - numbers.shift(feature.periods)
    span = feature.timed_window
    if span is None:  # a label column's statistic covers the rows before the current one
        base = numbers.shift(1) if label else numbers
        rolled = base.rolling(int(feature.window), min_periods=feature.min_periods)
        return rolled.agg(feature.stat)
    assert spec.timestamp is not None  # a time window needs the timestamp (spec check)
    times = frame[spec.timestamp]
    known = times.notna().to_numpy()
    timed = pd.Series(numbers.to_numpy()[known], index=pd.DatetimeIndex(times[known]))
    closed = "left" if label else "right"
    rolled = timed.rolling(span, closed=closed, min_periods=feature.min_periods)
    out = pd.Series(float("nan"), index=frame.index, dtype="float64")
    out[known] = rolled.agg(feature.stat).to_numpy()
    return out
