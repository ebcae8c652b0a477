"""Load a registered model as a model server does, in a fresh process, and score with it.

`registry.servable` runs this file as a script (`python -I served_probe.py WORKDIR`) and reads
back what it wrote to WORKDIR. It imports nothing of driftloop, only MLflow's pyfunc loader and
pandas, so that it sees the model as `mlflow models serve` does; driftloop's own packages are
blocked before the model loads (see `servable.BLOCKED_PACKAGES`).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

CONFIG_FILE = "probe.json"
SAMPLE_FILE = "sample.parquet"
SAMPLE_SCORES_FILE = "sample_scores.parquet"
EXAMPLE_SCORES_FILE = "example_scores.parquet"
OUTCOME_FILE = "outcome.json"


def as_frame(values: Any) -> pd.DataFrame:
    """A model's answer as a frame with text column names and a plain row index (for Parquet)."""
    frame = values.copy() if isinstance(values, pd.DataFrame) else pd.DataFrame(values)
    frame.columns = [str(c) for c in frame.columns]
    return frame.reset_index(drop=True)


def probe(workdir: Path) -> dict[str, Any]:
    """Load the model named in WORKDIR's config, score the sample and the input example.

    Returns:
        What happened, as the parent reads it: `ok`, and either the input example's row count
        or the failing stage with the error's type, message and traceback tail.
    """
    config = json.loads((workdir / CONFIG_FILE).read_text(encoding="utf-8"))
    for name in config["blocked"]:
        sys.modules[name] = None  # type: ignore[assignment]  # None makes `import name` fail
    uri = config["model_uri"]
    stage = "load"
    try:
        model = mlflow.pyfunc.load_model(uri)
        stage = "sample"
        sample = pd.read_parquet(workdir / SAMPLE_FILE)
        as_frame(model.predict(sample)).to_parquet(workdir / SAMPLE_SCORES_FILE)
        stage = "example"
        example = model.metadata.load_input_example(uri)
        if example is None:
            raise LookupError("the model was logged without an input example")
        as_frame(model.predict(example)).to_parquet(workdir / EXAMPLE_SCORES_FILE)
    except Exception as exc:  # noqa: BLE001  # any failure is this process's answer to the parent
        tail = traceback.format_exception(exc)[-4:]
        return {
            "ok": False,
            "stage": stage,
            "error": type(exc).__name__,
            "message": str(exc),
            "traceback": "".join(tail)[-1500:],
        }
    return {"ok": True, "example_rows": len(example)}


def main(argv: list[str]) -> int:
    """Run the probe on the work folder in `argv[1]`; write its outcome there (with the time)."""
    workdir = Path(argv[1])
    outcome = probe(workdir)
    outcome["finished"] = time.time()
    (workdir / OUTCOME_FILE).write_text(json.dumps(outcome), encoding="utf-8")
    return 0 if outcome["ok"] else 1


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    # The answer is on disk; skip the interpreter's teardown (about a second with MLflow loaded).
    os._exit(code)
