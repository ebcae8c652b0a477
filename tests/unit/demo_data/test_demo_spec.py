"""`make simulate` replays the demo from a spec copy whose paths lead into its own folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.spec import load_spec
from demo_data.rainfall import write_demo_spec

SPEC = Path(__file__).parents[3] / "data" / "rainfall.yaml"


def test_the_copy_reads_only_its_own_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    written = write_demo_spec(SPEC, Path("sim"), Path("sim/rainfall.yaml"))
    copy, original = load_spec(written), load_spec(SPEC)
    assert copy.reference == tmp_path / "sim/reference/rainfall.parquet"
    assert copy.incoming == tmp_path / "sim/incoming/rainfall"
    # Everything else is the demo's spec as committed.
    same = {"reference", "incoming"}
    assert copy.model_dump(exclude=same) == original.model_dump(exclude=same)
