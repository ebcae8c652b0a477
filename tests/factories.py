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
    task: str = "binary",
) -> pd.DataFrame:
    """A small frame whose y depends on x1 and the colour (flip inverts it).

    Binary: y is 0/1. Multiclass: y is "low", "mid" or "high" by the same score. Regression: y
    is the score plus noise. Rows are numbered from `start` in column `t`, so consecutive
    batches continue in time.
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(shift, 1.0, rows)
    x2 = rng.normal(0.0, 1.0, rows)
    colour = rng.choice(["red", "green", "blue"], rows)
    logit = 2.0 * x1 + np.where(colour == "red", 1.0, -0.5)
    logit = -logit if flip else logit
    draw = rng.random(rows)
    y: np.ndarray = (draw < 1 / (1 + np.exp(-logit))).astype("int64")
    if task != "binary":  # the same draw, as logistic noise on the score
        noisy = logit + np.log(draw / (1 - draw))
        y = (
            noisy
            if task == "regression"
            else np.select([noisy < -1.0, noisy < 1.5], ["low", "mid"], "high")
        )
    return pd.DataFrame(
        {"t": np.arange(start, start + rows), "x1": x1, "x2": x2, "colour": colour, "y": y}
    )


def spec_for_frames(
    name: str, reference: str, incoming: str, task: str = "binary"
) -> dict[str, object]:
    """A dataset spec (as YAML data) for frames made by `make_frame`."""
    return {
        "name": name,
        "task": task,
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
