from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from config.spec import DatasetSpec, TextFeaturizer
from registry import models, tracking
from registry.models import ModelFiles
from training.fit import fit_model
from training.model_code import predict_scores
from training.params import TrainingParams
from training.served import input_example, model_artifacts, model_code_path, model_code_paths

FAST = TrainingParams(n_estimators=30, max_depth=3, learning_rate=0.3, n_jobs=1)
# Loads the production model where neither scikit-learn nor driftloop can be imported, as in a
# serving image: the logged code and its logged modules must do on their own.
WITHOUT_SKLEARN = """
import sys
sys.modules["sklearn"] = sys.modules["training"] = sys.modules["config"] = None
import mlflow, pandas as pd
rows = pd.read_json(sys.argv[1], orient="split")
model = mlflow.pyfunc.load_model("models:/toy@production")
print(",".join(repr(float(s)) for s in model.predict(rows)))
"""


def reviews(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, rows)
    words = np.where(label == 1, "a lovely gripping film", "a dull and weak film")
    return pd.DataFrame(
        {
            "t": np.arange(rows),
            "colour": rng.choice(["red", "blue"], rows),
            "review": [f"{w} {rng.choice(['today', 'again', 'indeed'])}" for w in words],
            "y": label,
        }
    )


@pytest.fixture
def production(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = tracking.connect(uri)
    spec = DatasetSpec(
        name="toy",
        task="binary",
        target="y",
        timestamp="t",
        features={"categorical": ("colour",), "text": ("review",)},
        reference=tmp_path / "reference.parquet",
        incoming=tmp_path / "incoming",
        text_features=TextFeaturizer(char_ngrams=(3, 4), max_features=100),
    )
    result = fit_model(reviews(400, seed=1), spec, FAST)
    example, output = input_example(result, spec)
    version = models.log_model_version(
        tracking.ensure_experiment(client, "train", tmp_path / "artifacts"),
        name="toy",
        files=ModelFiles(
            code=model_code_path(),
            artifacts=model_artifacts(result, tmp_path / "files"),
            imports=model_code_paths(),
        ),
        params={},
        metrics=result.metrics,
        example=example,
        example_output=output,
        manifest=(),
        tags={},
    )
    client.set_registered_model_alias("toy", "production", version.version)
    yield uri, result, tmp_path
    mlflow.set_tracking_uri(None)


def test_production_model_takes_raw_text_without_scikit_learn(production) -> None:
    uri, result, tmp_path = production
    rows = reviews(6, seed=9)[["colour", "review"]]
    rows.loc[1, "review"] = None
    rows.loc[2, "review"] = ""
    rows.loc[3, "review"] = "words nobody wrote before"
    served = mlflow.pyfunc.load_model("models:/toy@production").predict(rows)
    expected = predict_scores(result.booster, rows, result.schema)
    assert np.array_equal(np.asarray(served), expected)
    (tmp_path / "rows.json").write_text(rows.to_json(orient="split"))
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_SKLEARN, str(tmp_path / "rows.json")],
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    scores = [float(s) for s in done.stdout.strip().splitlines()[-1].split(",")]
    assert np.array_equal(scores, expected)
