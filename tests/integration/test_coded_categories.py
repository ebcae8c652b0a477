"""A real dataset whose categories are all numbers runs through the loop as categories.

statsmodels' `fair` survey (6,366 marriages, 1974) codes occupation 1-6, religiousness 1-4 and
the marriage rating 1-5. The reference is Parquet with integer codes; batches are CSV files,
where the same codes arrive as text that a CSV parser reads back as integers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from flow_project import Project, toy_project

CATEGORICAL = ["occupation", "occupation_husb", "religious", "rate_marriage"]
NUMERIC = ["age", "yrs_married", "children", "educ"]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def project(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    # The file is sorted by its target (every affair first) and has no timestamp, so a
    # file-order holdout would hold one class: shuffled once, as a survey export would be.
    fair = sm.datasets.fair.load_pandas().data.sample(frac=1.0, random_state=0)
    fair[CATEGORICAL] = fair[CATEGORICAL].astype("int64")
    fair["had_affair"] = (fair.pop("affairs") > 0).astype("int64")
    fields = {
        "target": "had_affair",
        "timestamp": None,
        "features": {"numeric": NUMERIC, "categorical": CATEGORICAL},
        "slices": ["occupation"],
    }
    root = tmp_path_factory.mktemp("coded")
    with toy_project(root, "ghp_coded_0123456789", **fields) as built:
        fair.iloc[:4000].to_parquet(root / "data" / "reference.parquet")
        for old in (root / "data" / "incoming" / "toy").iterdir():
            old.unlink()
        fair.iloc[4000:5200].to_csv(built.batch("f1.csv"), index=False)
        fair.iloc[5200:].to_csv(built.batch("f2.csv"), index=False)
        yield built


def test_number_coded_categories_validate_drift_and_train_as_categories(project: Project) -> None:
    first = project.run("f1.csv")
    assert first.outcome == "promoted"  # validated: no code is an "unexpected" value
    record = Path(first.record).read_text(encoding="utf-8")
    assert "`occupation` (categorical)" in record
    model = mlflow.pyfunc.load_model("models:/toy@production")
    rows = pd.read_csv(project.batch("f2.csv")).head(20)
    scores = np.asarray(model.predict(rows[NUMERIC + CATEGORICAL]), dtype="float64")
    assert np.all((scores > 0) & (scores < 1))
    second = project.run("f2.csv", force=True)
    assert second.outcome in {"promoted", "challenger lost"}
    assert second.value is not None and second.value > 0.6  # ROC AUC of the champion on f2
