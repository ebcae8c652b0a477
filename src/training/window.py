"""The training window: which data files a challenger trains on, and how much each one weighs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, TypeVar

from config.manifest import DataFile

T = TypeVar("T")
Window = Literal["all", "last_k", "decay"]


def select_window(files: Sequence[T], *, window: Window, batches: int) -> list[T]:
    """Keep the files a challenger trains on (oldest first in, oldest first out).

    `all` keeps everything; `last_k` keeps the newest `batches` files (the reference counts as
    one); `decay` keeps everything and lets `file_weights` fade the old ones.
    """
    if window == "last_k":
        return list(files[-batches:])
    return list(files)


def file_weights(count: int, *, window: Window, half_life: float) -> list[float]:
    """Sample weight per file, oldest first: 1 for all, halving every `half_life` files back."""
    if window != "decay":
        return [1.0] * count
    return [0.5 ** ((count - 1 - i) / half_life) for i in range(count)]


def training_files(
    regime: Sequence[Path], batch: Path, *, starts_regime: bool, window: Window, batches: int
) -> list[Path]:
    """The files a challenger trains on, from the labelled files of the current regime.

    A retrain on a change signal starts a new regime: with the `last_k` window it trains on this
    batch alone, since older data belongs to the concept that just ended. Otherwise the window
    applies to the data since the last change.
    """
    if starts_regime and window == "last_k":
        return [batch]
    return select_window(regime, window=window, batches=batches)


def weights_by_file(
    manifest: Sequence[DataFile], *, window: Window, half_life: float
) -> dict[str, float]:
    """Each training file's sample weight, by content hash (see `file_weights`)."""
    weights = file_weights(len(manifest), window=window, half_life=half_life)
    return {entry.sha256: w for entry, w in zip(manifest, weights, strict=True)}
