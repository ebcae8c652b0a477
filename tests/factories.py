"""Small, deterministic data for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from config.spec import DatasetSpec, FeatureSpec, Task


def make_frame(
    rows: int = 400,
    *,
    seed: int = 0,
    shift: float = 0.0,
    flip: bool = False,
    start: int = 0,
) -> pd.DataFrame:
    """A small binary-classification frame: y depends on x1 and the colour (flip inverts it).

    Rows are numbered from `start` in column `t`, so consecutive batches continue in time.
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(shift, 1.0, rows)
    x2 = rng.normal(0.0, 1.0, rows)
    colour = rng.choice(["red", "green", "blue"], rows)
    logit = 2.0 * x1 + np.where(colour == "red", 1.0, -0.5)
    y = (rng.random(rows) < 1 / (1 + np.exp(-(-logit if flip else logit)))).astype("int64")
    return pd.DataFrame(
        {"t": np.arange(start, start + rows), "x1": x1, "x2": x2, "colour": colour, "y": y}
    )


def spec_for_frames(name: str, reference: str, incoming: str) -> dict[str, object]:
    """A dataset spec (as YAML data) for frames made by `make_frame`."""
    return {
        "name": name,
        "task": "binary",
        "target": "y",
        "timestamp": "t",
        "features": {"numeric": ["x1", "x2"], "categorical": ["colour"]},
        "reference": reference,
        "incoming": incoming,
    }


def toy_spec(root: Path) -> DatasetSpec:
    """The dataset spec of frames made by `make_frame`, with its files under `root`."""
    return DatasetSpec(
        name="toy",
        task=Task.BINARY,
        target="y",
        timestamp="t",
        features=FeatureSpec(numeric=("x1", "x2"), categorical=("colour",)),
        reference=root / "reference.parquet",
        incoming=root / "incoming",
    )
