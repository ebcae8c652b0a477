"""A replay's output folder may not overlap the batches or the reference it reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from runs.batches import check_replay_folders


@pytest.mark.parametrize(
    ("batches", "out", "reference", "clash"),
    [
        ("history", "history", "ref.csv", "batches folder history is inside the output"),
        ("replay/history", "replay", "ref.csv", "batches folder replay/history is inside"),
        ("history", "history/replay", "ref.csv", "output folder history/replay is inside"),
        ("history", "replay", "replay/ref.csv", "reference replay/ref.csv is inside"),
    ],
)
def test_overlapping_folders_are_refused(
    tmp_path: Path, batches: str, out: str, reference: str, clash: str
) -> None:
    with pytest.raises(ConfigError, match="choose an --out folder apart from both") as refused:
        check_replay_folders(tmp_path / batches, tmp_path / out, tmp_path / reference)
    assert clash in str(refused.value).replace(f"{tmp_path}/", "")


def test_separate_folders_pass(tmp_path: Path) -> None:
    # Siblings with a shared prefix are not inside one another.
    check_replay_folders(tmp_path / "replay-in", tmp_path / "replay", tmp_path / "data/ref.csv")
