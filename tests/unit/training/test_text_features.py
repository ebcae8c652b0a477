from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import xgboost as xgb

from config.spec import DatasetSpec, TextFeaturizer
from training.errors import TrainingError
from training.featurizer import fit_text_column, vectorizer_for
from training.fit import fit_model
from training.model_code import matrix_inputs, predict_scores
from training.params import TrainingParams
from training.served import BoosterScorer, model_artifacts, save_model_files
from training.text_features import documents, feature_names, text_matrix

FAST = TrainingParams(n_estimators=40, max_depth=3, learning_rate=0.3, n_jobs=1)
WORDS = ["Great", "bad", "café", "cafe", "naïve", "ok", "x", "[link]", "<b>", "Über", "ﬁne", "a\\b"]


def corpus(rows: int = 400, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, rng.integers(0, 25))) for _ in range(rows)]
    return pd.Series([*texts, None, np.nan, "", "  \t ", "a", "1234"], dtype=object)


def reviews(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """Rows whose label the review's words carry ("not good" is bad), and a weak number."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, rows)
    filler = ["the", "film", "plot", "was", "and", "cast"]
    texts = []
    for positive in label:
        word = rng.choice(["good", "lovely"] if positive else ["dull", "not good"])
        texts.append(" ".join([*rng.choice(filler, 5), str(word), *rng.choice(filler, 3)]))
    return pd.DataFrame(
        {
            "t": np.arange(rows),
            "x1": rng.normal(0.2 * label, 1.0),
            "colour": rng.choice(["red", "blue"], rows),
            "review": texts,
            "y": label,
        }
    )


def text_spec(tmp_path, *, numeric=(), categorical=(), **options) -> DatasetSpec:
    return DatasetSpec(
        name="toy",
        task="binary",
        target="y",
        timestamp="t",
        features={"numeric": numeric, "categorical": categorical, "text": ("review",)},
        reference=tmp_path / "reference.parquet",
        incoming=tmp_path / "incoming",
        text_features=TextFeaturizer(**options),
    )


def sklearn_matrix(values: pd.Series, state: dict, options: TextFeaturizer) -> sp.csr_matrix:
    docs = documents(values)
    blocks = []
    for block in state["blocks"]:
        fitted = vectorizer_for(block, state).set_params(
            max_features=options.max_features, min_df=options.min_df
        )
        fitted.fit(docs)
        assert fitted.get_feature_names_out().tolist() == block["terms"]
        blocks.append(fitted.transform(docs))
    return sp.hstack(blocks, format="csr")


@pytest.mark.parametrize(
    "options",
    [
        TextFeaturizer(),
        TextFeaturizer(max_features=30, char_ngrams=(2, 5), sublinear_tf=True),
        TextFeaturizer(word_ngrams=(2, 3), char_ngrams=(1, 3), min_df=1),
        TextFeaturizer(word_ngrams=None, char_ngrams=(3, 3), max_features=5),
    ],
    ids=["default", "words-and-chars", "bigrams-up", "chars-only"],
)
def test_served_transform_equals_scikit_learns_bit_for_bit(options) -> None:
    values = corpus()
    state = fit_text_column(values, options)
    ours = text_matrix(values, state)
    theirs = sklearn_matrix(values, state, options)
    assert ours.shape == theirs.shape and ours.nnz == theirs.nnz
    assert np.array_equal(ours.indptr, theirs.indptr)
    assert np.array_equal(ours.indices, theirs.indices)
    assert np.array_equal(ours.data, theirs.data)  # exactly, not approximately


def test_state_survives_json_and_scores_unseen_text_the_same() -> None:
    options = TextFeaturizer(char_ngrams=(2, 4))
    state = fit_text_column(corpus(), options)
    stored = json.loads(json.dumps(state))
    later = corpus(50, seed=7)
    assert (text_matrix(later, stored) != text_matrix(later, state)).nnz == 0


def test_missing_empty_and_blank_texts_have_no_features() -> None:
    state = fit_text_column(corpus(), TextFeaturizer(char_ngrams=(2, 3)))
    values = pd.Series([None, np.nan, "", "   ", pd.NA, "bad ok"], dtype=object)
    matrix = text_matrix(values, state)
    assert np.diff(matrix.indptr).tolist()[:5] == [0, 0, 0, 0, 0]
    assert matrix[5].nnz > 0 and np.isclose(np.sqrt((matrix[5].data ** 2).sum() / 2), 1.0)


def test_unseen_words_are_ignored() -> None:
    state = fit_text_column(corpus(), TextFeaturizer())
    known = text_matrix(pd.Series(["bad ok"]), state)
    padded = text_matrix(pd.Series(["bad ok zyzzyva qwxq"]), state)
    assert np.array_equal(known.toarray(), padded.toarray())
    assert text_matrix(pd.Series(["zyzzyva qwxq"]), state).nnz == 0


def test_numbers_read_as_their_text() -> None:
    state = fit_text_column(pd.Series(["12 34", "12", "34 56"] * 5), TextFeaturizer())
    as_floats = text_matrix(pd.Series([12.0, np.nan, 34.0]), state)
    as_text = text_matrix(pd.Series(["12", None, "34"]), state)
    assert np.array_equal(as_floats.toarray(), as_text.toarray())


def test_feature_names_are_unique_and_safe_for_xgboost() -> None:
    state = fit_text_column(corpus(), TextFeaturizer(char_ngrams=(1, 3), min_df=1))
    names = feature_names("review", state)
    assert len(names) == len(set(names)) == text_matrix(corpus(5), state).shape[1]
    assert not [n for n in names if any(c in n for c in "[]<")]
    assert "review:word:great" in names and "review:char_wb:\\x5bl" in names


def test_a_column_without_terms_adds_no_features() -> None:
    state = fit_text_column(pd.Series([None, "", "a", " "] * 20), TextFeaturizer())
    assert state["blocks"] == []
    assert text_matrix(pd.Series(["anything at all"]), state).shape == (1, 0)


def test_text_only_model_learns_from_the_words_and_scores_raw_rows(tmp_path) -> None:
    spec = text_spec(tmp_path)
    frame = reviews()
    result = fit_model(frame, spec, FAST)
    assert result.metrics["roc_auc"] > 0.95
    assert spec.served_columns == ("review",)
    assert any(name.startswith("review:word:") for name in result.feature_importance)
    raw = reviews(30, seed=5)[["review"]]
    raw.loc[0, "review"] = None
    raw.loc[1, "review"] = "words the model never saw"
    scores = predict_scores(result.booster, raw, result.schema)
    assert scores.shape == (30,) and np.isfinite(scores).all()


def test_mixed_model_round_trips_through_its_files(tmp_path) -> None:
    spec = text_spec(
        tmp_path, numeric=("x1",), categorical=("colour",), char_ngrams=(2, 4), max_features=200
    )
    frame = reviews()
    frame.loc[::7, "x1"] = 0.0  # zeros are values, not missing: the CSR must store them
    result = fit_model(frame, spec, FAST)
    files = model_artifacts(result, tmp_path / "model")
    assert sorted(files) == ["booster", "schema", "text_features"]
    assert "text" not in json.loads(files["schema"].read_text())  # vocabulary in its own file
    scorer = BoosterScorer.from_artifacts({k: p.read_bytes() for k, p in files.items()})
    raw = reviews(40, seed=3).assign(colour=lambda f: f.colour.where(f.index != 2, "green"))
    raw.loc[4, "review"] = np.nan
    assert np.array_equal(scorer.predict(raw), predict_scores(result.booster, raw, result.schema))
    assert save_model_files(result, tmp_path / "again")[0].read_bytes()[:1] == b"{"


def test_dense_columns_keep_their_zeros_and_missing_values(tmp_path) -> None:
    spec = text_spec(tmp_path, numeric=("x1",), categorical=("colour",))
    result = fit_model(reviews(), spec, FAST)
    rows = pd.DataFrame(
        {"x1": [0.0, np.nan, 1.5], "colour": ["blue", None, "violet"], "review": ["good"] * 3}
    )
    data = matrix_inputs(rows, result.schema)["data"]
    dense = data[:, :2].toarray()
    assert data[:, :2].nnz == 6  # every value stored, a zero too
    assert dense[0].tolist() == [0.0, 0.0]  # x1 = 0 and "blue", code 0
    assert np.isnan(dense[1]).all() and np.isnan(dense[2, 1])


def test_text_model_scores_like_a_dmatrix_of_the_same_values(tmp_path) -> None:
    spec = text_spec(tmp_path, numeric=("x1",))
    result = fit_model(reviews(), spec, FAST)
    rows = reviews(20, seed=8)
    inputs = matrix_inputs(rows, result.schema)
    dense = xgb.DMatrix(
        inputs["data"].toarray(),
        feature_names=inputs["feature_names"],
        missing=0.0,  # text features a row lacks are absent, i.e. missing
    )
    dense_x1 = inputs["data"][:, 0].toarray().ravel()
    assert (dense_x1 != 0).all()  # so missing=0.0 only touches the text features
    assert np.allclose(
        result.booster.predict(dense), predict_scores(result.booster, rows, result.schema)
    )


def test_a_text_column_with_one_value_still_trains(tmp_path) -> None:
    spec = text_spec(tmp_path, numeric=("x1",))
    frame = reviews().assign(review="the same words every time", x1=lambda f: f.x1 + f.y)
    result = fit_model(frame, spec, FAST)
    assert result.metrics["roc_auc"] > 0.6  # from x1: the text says nothing
    terms = result.schema["text"]["review"]["blocks"][0]["terms"]
    assert "same words" in terms
    scores = predict_scores(result.booster, frame.tail(5), result.schema)
    assert np.isfinite(scores).all()


def test_text_only_spec_whose_text_holds_no_term_is_refused(tmp_path) -> None:
    frame = reviews().assign(review=lambda f: np.where(f.index % 2, None, "a"))
    with pytest.raises(TrainingError, match="hold no term"):
        fit_model(frame, text_spec(tmp_path), FAST)


def test_tuning_searches_on_the_text_features(tmp_path) -> None:
    params = TrainingParams(
        n_estimators=30, n_jobs=1, tuning_trials=3, tuning_jobs=1, tuning_min_rows=0
    )
    result = fit_model(reviews(), text_spec(tmp_path), params)
    assert len(result.trials) == 3 and result.metrics["roc_auc"] > 0.95


def test_floats_past_the_exact_integers_keep_their_text() -> None:
    assert documents(pd.Series([1e20, 2.0])) == ["1e+20", "2.0"]
    assert documents(pd.Series([3.0, None])) == ["3", ""]
