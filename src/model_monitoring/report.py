"""The Evidently report of one batch: the frames it sees, their column roles, its metrics."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from evidently import (
    BinaryClassification,
    DataDefinition,
    MulticlassClassification,
    Regression,
)
from evidently.metrics import ValueDrift
from evidently.presets import ClassificationPreset, DataDriftPreset, RegressionPreset
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split

from model_monitoring.errors import ReportLayoutError
from model_monitoring.measures import DriftTests, ModelScores
from model_monitoring.text_drift import MIN_AUC

PREDICTION = "prediction"
SAMPLE_SEED = 0  # the same rows are tested when a batch is measured again
# Evidently's text drift: a domain classifier's AUC on a 50/50 split, no p-value. Shown against
# driftloop's AUC threshold for a person to read its typical words and texts; the verdict that
# counts is `text_drift.measure_text_drift`'s.
TEXT_METHOD = "abs_text_content_drift"
EVIDENTLY_TEXT_SEED = 42  # its split (evidently/legacy/utils/data_drift_utils.py)
# Evidently's standalone page carries its data as two lines of JSON in one inline <script>
# (evidently/legacy/utils/dashboard.py, `file_html_template`). JSON escapes every line break,
# so no value can forge these lines.
INLINE_DATA = re.compile(
    r"^(?P<head>    var (?P<id>metric_[0-9a-f]{32}) = )(?P<data>.*)"
    r"(?P<mid>;\n    var additional_graphs_(?P=id) = )(?P<graphs>.*)(?P<tail>;\n</script>)$",
    re.MULTILINE,
)
# In a JSON string, \u003c is the same text to JavaScript; to the HTML parser it is no tag.
SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def report_metrics(
    columns: dict[str, list[str]],
    tests: DriftTests,
    scores: ModelScores | None,
    labelled: bool,
    *,
    per_class: bool = True,
) -> list[Any]:
    """The drift preset on the features (pinned methods), prediction drift and model quality.

    Text columns get Evidently's domain classifier against `MIN_AUC` (give only those that
    `can_show_text`). Classification quality is in the report only with `per_class` (each side
    has exactly the model's classes); the run's realized metrics are driftloop's own either way.
    """
    features = [c for kind in ("numeric", "categorical", "text") for c in columns.get(kind, [])]
    metrics: list[Any] = [
        DataDriftPreset(
            columns=features,
            num_method=tests.numeric_method,
            cat_method=tests.categorical_method,
            text_method=TEXT_METHOD,
            threshold=tests.threshold,
            text_threshold=MIN_AUC,
        )
    ]
    if scores is not None:
        method = tests.categorical_method if scores.task == "multiclass" else tests.numeric_method
        metrics.append(ValueDrift(column=PREDICTION, method=method, threshold=tests.threshold))
        if labelled:
            if scores.task == "regression":
                metrics.append(RegressionPreset())
            elif per_class:  # Evidently cannot measure quality otherwise; driftloop does
                metrics.append(ClassificationPreset())
    return metrics


def report_columns(
    columns: dict[str, list[str]], reference: pd.DataFrame, current: pd.DataFrame
) -> dict[str, list[str]]:
    """The feature columns the report shows: all of them, less text that Evidently cannot read."""
    text = columns.get("text", [])
    return {**columns, "text": [c for c in text if can_show_text(reference[c], current[c])]}


def can_show_text(reference: pd.Series, current: pd.Series) -> bool:
    """Whether Evidently's text drift runs on a text column's two sides, or would raise.

    It drops missing values, splits the texts in halves (seed 42) that must each hold both
    sides, and fits a TF-IDF vocabulary on one of them without English stop words (scikit-learn's
    list: nothing is downloaded) or terms in over half the texts: a column of a few common
    words leaves no term ("After pruning, no terms remain"), as does one of empty texts.
    """
    ref, cur = reference.dropna(), current.dropna()
    texts = pd.concat([ref, cur], ignore_index=True)
    if ref.empty or cur.empty or not all(isinstance(t, str) for t in texts):
        return False
    side = np.r_[np.zeros(len(ref)), np.ones(len(cur))]
    fit, _, fit_side, held_side = train_test_split(
        texts, side, test_size=0.5, random_state=EVIDENTLY_TEXT_SEED, shuffle=True
    )
    if len(set(fit_side)) < 2 or len(set(held_side)) < 2:  # noqa: PLR2004 - both sides
        return False
    try:
        TfidfVectorizer(sublinear_tf=True, max_df=0.5, stop_words="english").fit(fit)
    except ValueError:  # no term left: Evidently's fit raises the same error
        return False
    return True


def sample_rows(frame: pd.DataFrame, size: int) -> pd.DataFrame:
    """The rows of `frame` the drift tests see: the same draw as `report_frame` makes."""
    picked = sample_positions(len(frame), size)
    return frame if picked is None else frame.iloc[picked]


def sample_positions(rows: int, size: int, *, seed: int = SAMPLE_SEED) -> np.ndarray | None:
    """Sorted positions of `size` rows drawn without replacement; None keeps all `rows`."""
    if size <= 0 or rows <= size:
        return None
    return np.sort(np.random.default_rng(seed).choice(rows, size=size, replace=False))


def report_frame(
    data: pd.DataFrame,
    features: list[str],
    target: str,
    scores: ModelScores | None,
    *,
    which: str,
    sample: int,
) -> pd.DataFrame:
    """One side of the report: a sample of its rows, the features, target and model outputs."""
    columns = features + ([target] if target in data.columns else [])
    picked = sample_positions(len(data), sample)
    out = (data if picked is None else data.iloc[picked])[columns].reset_index(drop=True)
    if scores is None:
        return out
    values = scores.reference if which == "reference" else scores.current
    if picked is not None:
        values = (
            values.iloc[picked] if isinstance(values, pd.DataFrame) else np.asarray(values)[picked]
        )
    if scores.task == "multiclass":
        proba = pd.DataFrame(values).reset_index(drop=True)
        proba.columns = [str(c) for c in scores.classes]
        out = pd.concat([out, proba], axis=1)
        out[PREDICTION] = proba.idxmax(axis=1)
        if target in out.columns:
            out[target] = out[target].astype(str)
    else:
        out[PREDICTION] = np.asarray(values, dtype="float64")
    return out


def data_definition(
    columns: dict[str, list[str]],
    target: str,
    scores: ModelScores | None,
    labelled: bool,
    *,
    probas: bool = True,
) -> DataDefinition:
    """Column roles for Evidently: feature kinds, and the target/prediction of the model task.

    Multiclass probabilities are given only with `probas` (every class on both sides): without
    them, the report measures quality from the predicted labels.
    """
    kwargs: dict[str, Any] = {
        "numerical_columns": list(columns.get("numeric", [])),
        "categorical_columns": list(columns.get("categorical", [])),
        "text_columns": list(columns.get("text", [])),
    }
    if scores is None:
        return DataDefinition(**kwargs)
    if scores.task == "regression":
        kwargs["numerical_columns"].append(PREDICTION)
        if labelled:
            kwargs["regression"] = [Regression(target=target, prediction=PREDICTION)]
    elif scores.task == "binary":
        kwargs["numerical_columns"].append(PREDICTION)
        if labelled:
            kwargs["classification"] = [
                BinaryClassification(
                    target=target, prediction_probas=PREDICTION, pos_label=scores.classes[1]
                )
            ]
    else:
        kwargs["categorical_columns"].append(PREDICTION)
        if labelled:
            kwargs["classification"] = [
                MulticlassClassification(
                    target=target,
                    prediction_labels=PREDICTION,
                    prediction_probas=[str(c) for c in scores.classes] if probas else None,
                )
            ]
    return DataDefinition(**kwargs)


def script_safe_page(page: str) -> str:
    """Evidently's HTML `page` with `<`, `>` and `&` in its inline JSON as unicode escapes.

    Evidently writes values into a <script> as they are, so a value holding `</script>` would
    end the block and run what follows it; escaped, the page shows the same text.

    Raises:
        ReportLayoutError: The page does not hold Evidently's inline data block.
    """
    safe, found = INLINE_DATA.subn(_script_safe_data, page, count=1)
    if not found:
        raise ReportLayoutError("no inline data block found in the Evidently page (its layout?)")
    return safe


def _script_safe_data(match: re.Match[str]) -> str:
    data, graphs = (match[part].translate(SCRIPT_SAFE) for part in ("data", "graphs"))
    return f"{match['head']}{data}{match['mid']}{graphs}{match['tail']}"
