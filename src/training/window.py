"""The training window: which data files a challenger trains on, and how much each one weighs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeVar

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
