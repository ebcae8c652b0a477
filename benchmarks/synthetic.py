"""Synthetic benchmark data: 20 features (15 numeric, 5 categorical), a binary label, a drift batch.

The reference is the data the first model is trained on; `batch-1-drift` moves three numeric
columns by half a standard deviation and reweights one categorical column, so the monitor sees
real drift and a retrain has something to learn.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

NUMERIC = [f"num_{i:02d}" for i in range(15)]
CATEGORICAL = {"cat_a": 3, "cat_b": 5, "cat_c": 10, "cat_d": 20, "cat_e": 50}
TARGET = "label"
MISSING_SHARE = 0.01  # of num_03, so the suite has a null allowance to check


def make_frame(rows: int, *, seed: int, start: int = 0, drift: bool = False) -> pd.DataFrame:
    """`rows` rows with ids from `start`, a timestamp per minute, a label from a known model."""
    # Imported here: the benchmark driver imports this module and must stay small (a child
    # process starts with its parent's peak RSS, which would inflate every measurement).
    import numpy as np  # noqa: PLC0415 - see above
    import pandas as pd  # noqa: PLC0415 - see above

    rng = np.random.default_rng(seed)
    scales = np.linspace(0.5, 50.0, len(NUMERIC))
    values = rng.standard_normal((rows, len(NUMERIC))).astype("float64")
    if drift:
        values[:, :3] += 0.5
    frame = pd.DataFrame(values * scales, columns=NUMERIC)
    frame.iloc[rng.random(rows) < MISSING_SHARE, 3] = np.nan  # a column with a few missing values
    logit = values[:, 0] - 0.8 * values[:, 1] + 0.5 * values[:, 2] * values[:, 4]
    for i, (name, levels) in enumerate(CATEGORICAL.items()):
        weights = np.linspace(1.0, 3.0 if drift and i == 0 else 1.0, levels)
        codes = rng.choice(levels, size=rows, p=weights / weights.sum())
        frame[name] = pd.Categorical.from_codes(codes, [f"{name}_{k}" for k in range(levels)])
        logit = logit + 0.3 * np.sin(codes + i)
    frame[TARGET] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype("int64")
    frame.insert(0, "id", np.arange(start, start + rows, dtype="int64"))
    frame.insert(1, "ts", pd.Timestamp("2026-01-01") + pd.to_timedelta(frame["id"], unit="min"))
    return frame


def project_paths(root: Path) -> dict[str, Path]:
    """Where `write_project` puts the reference, the two batches and the spec."""
    incoming = root / "data" / "incoming" / "bench"
    return {
        "reference": root / "data" / "reference.parquet",
        "seed": incoming / "batch-0-seed.parquet",
        "drift": incoming / "batch-1-drift.parquet",
        "spec": root / "bench.yaml",
    }


def write_project(root: Path, rows: int) -> dict[str, Path]:
    """Reference, a clean seed batch, a drift batch and the spec, under `root`."""
    import yaml  # noqa: PLC0415 - as in make_frame

    paths = project_paths(root)
    paths["seed"].parent.mkdir(parents=True, exist_ok=True)
    make_frame(rows, seed=1).to_parquet(paths["reference"])
    make_frame(rows, seed=2, start=rows).to_parquet(paths["seed"])
    make_frame(rows, seed=3, start=2 * rows, drift=True).to_parquet(paths["drift"])
    spec = bench_spec("data/reference.parquet")
    paths["spec"].write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return paths


def bench_spec(reference: str) -> dict[str, object]:
    """The spec of the benchmark data, its reference at `reference` (a file or a folder)."""
    return {
        "name": "bench",
        "task": "binary",
        "target": TARGET,
        "id": "id",
        "timestamp": "ts",
        "features": {"numeric": NUMERIC, "categorical": list(CATEGORICAL)},
        "reference": reference,
        "incoming": "data/incoming/bench/",
    }


if __name__ == "__main__":
    write_project(Path(sys.argv[1]), int(sys.argv[2]))
