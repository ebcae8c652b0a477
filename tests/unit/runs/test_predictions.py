from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from runs.predictions import prediction_frame, write_predictions


def test_binary_predictions_carry_probability_label_and_version(tmp_path: Path) -> None:
    batch = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    out = prediction_frame(
        batch,
        np.array([0.2, 0.5, 0.9]),
        task="binary",
        classes=["no", "yes"],
        model_name="m",
        model_version="4",
        scored_at="2026-11-23T00:00:00+00:00",
    )
    assert out["predicted_label"].tolist() == ["no", "yes", "yes"]
    assert out["model_version"].tolist() == ["4"] * 3 and out["x"].tolist() == [1.0, 2.0, 3.0]
    written = write_predictions(out, tmp_path / "p" / "scored.parquet")
    assert pd.read_parquet(written).equals(out)
    assert [p.name for p in written.parent.iterdir()] == ["scored.parquet"]


def test_multiclass_predictions_have_one_probability_column_per_class() -> None:
    out = prediction_frame(
        pd.DataFrame({"x": [0, 1]}),
        np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]),
        task="multiclass",
        classes=["a", "b", "c"],
        model_name="m",
        model_version="1",
        scored_at="t",
    )
    assert list(out.columns[1:4]) == ["proba_a", "proba_b", "proba_c"]
    assert out["predicted_label"].tolist() == ["a", "c"]


def test_formula_cells_are_written_as_text_in_csv(tmp_path) -> None:
    frame = pd.DataFrame(
        {
            "colour": ['=HYPERLINK("http://evil.example","x")', "red", "@SUM(A1)", None],
            "x1": [-1.5, 2.0, 3.0, 4.0],
            "code": pd.Categorical(["+1", "02", "-3", "4"]),
        }
    )
    written = write_predictions(frame, tmp_path / "p.csv")
    back = pd.read_csv(written, dtype=str, keep_default_na=False)
    assert back["colour"].tolist() == [
        '\'=HYPERLINK("http://evil.example","x")',
        "red",
        "'@SUM(A1)",
        "",
    ]
    assert back["x1"].tolist() == ["-1.5", "2.0", "3.0", "4.0"]
    assert back["code"].tolist() == ["'+1", "02", "'-3", "4"]
