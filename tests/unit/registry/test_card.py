from __future__ import annotations

from config.manifest import DataFile
from evaluation.comparison import PairedDifference
from registry.card import CardFacts, purpose, render_model_card
from registry.promotion import decide_promotion


def facts(**changes: object) -> CardFacts:
    comparison = PairedDifference("roc_auc", 0.86, 0.80, 0.06, 0.03, 0.09, 0.95, 1000)
    decision = decide_promotion(
        metric="roc_auc",
        challenger=0.86,
        comparisons={"roc_auc": comparison},
        min_improvement=0.005,
        confidence=0.95,
        floor=0.55,
    )
    base = CardFacts(
        name="rain",
        version="3",
        run_id="abc",
        task="binary",
        target="rain",
        numeric=["temperature"],
        categorical={"station": ["a", "b"]},
        manifest=(
            DataFile(
                path="data/incoming/b-05.csv",
                sha256="f" * 64,
                md5="a" * 32,
                pointer="data/incoming/b-05.csv.dvc",
            ),
        ),
        data_revision="c" * 40,
        data_remote="s3 (s3://bucket/dvc)",
        train_rows=1200,
        holdout_rows=300,
        params={"max_depth": 6},
        metrics={"roc_auc": 0.86},
        intervals={"roc_auc": (0.82, 0.90)},
        decision=decision,
        promoted=True,
        champion_version="2",
        retrain_reasons=("realized roc_auc dropped",),
        slice_table="| column | group |",
    )
    return CardFacts(**{**base.__dict__, **changes})


def test_card_names_data_metrics_comparison_slices_and_decision() -> None:
    card = render_model_card(facts())
    assert card.startswith("# Model card: rain v3")
    row = "| `data/incoming/b-05.csv` | `" + "a" * 32 + "` | `ffffffffffffffff` | "
    assert row + "`data/incoming/b-05.csv.dvc` |" in card
    assert "DVC pointers at git revision: `" + "c" * 40 + "`" in card
    assert "DVC remote: `s3 (s3://bucket/dvc)`" in card
    assert "`driftloop data 3 --model rain --restore DIR` restores them." in card
    assert "| roc_auc | 0.8600 | 0.8200 - 0.9000 |" in card
    assert "| roc_auc | 0.8600 | 0.8000 | +0.0600 | +0.0300 | +0.0900 |" in card
    assert "`station` (2 values)" in card and "| column | group |" in card
    assert "Trained because: realized roc_auc dropped" in card
    assert "**promoted to production**" in card and "Rule: promote when" in card


def test_first_model_card_says_the_floor_decided() -> None:
    card = render_model_card(facts(champion_version=None, slice_table=None))
    assert "No champion: the first model is judged by the floor alone." in card
    assert "No slice columns in the dataset spec." in card


def test_a_run_that_lost_the_race_says_so_on_the_card() -> None:
    card = render_model_card(facts(promoted=False, lost="production moved from v2 to v4"))
    assert "**not promoted**" in card and "Not released: production moved" in card


def test_card_says_how_derived_features_are_computed_and_what_the_served_model_takes() -> None:
    card = render_model_card(
        facts(
            derived={"co2_lag_1": "lag of `co2` (periods 1)"},
            inputs=["week", "co2_lag_1"],
        )
    )
    assert "- Derived `co2_lag_1`: lag of `co2` (periods 1)" in card
    assert "- The served model takes: `week`, `co2_lag_1`" in card


def test_names_and_values_on_the_card_show_as_text() -> None:
    card = render_model_card(
        facts(
            name="rain<script>",
            target="y`1",
            categorical={"a|b": ["x"]},
            manifest=(DataFile(path="data/b|[x].csv", sha256="e" * 64),),
            metrics={"roc|auc": 0.86},
            intervals={},
            retrain_reasons=("drift [see](http://evil)",),
        )
    )
    assert card.startswith("# Model card: rain\\<script> v3")
    assert "target ``y`1``" in card
    assert "| `data/b\\|[x].csv` | - | `eeeeeeeeeeeeeeee` |" in card
    assert "`a|b` (1 values)" in card
    assert "| roc\\|auc | 0.8600 | - |" in card
    assert "Trained because: drift \\[see](http://evil)" in card


def test_the_drift_report_is_linked_by_its_tracking_location_never_a_local_path() -> None:
    stored = render_model_card(facts(drift_report="runs:/r1/reports/monitor-1.html"))
    assert "led to this training: `runs:/r1/reports/monitor-1.html`" in stored
    served = render_model_card(
        facts(drift_report="https://mlflow.example.org/#/experiments/2/runs/r1/artifactPath/x.html")
    )
    assert (
        "[x.html](<https://mlflow.example.org/#/experiments/2/runs/r1/artifactPath/x.html>)"
        in served
    )


def test_the_purpose_names_target_task_and_dataset() -> None:
    assert purpose("rainfall", "binary", "rain", ["a", "b"]) == (
        "Predicts `rain` (binary classification) for the `rainfall` dataset from 2 inputs; "
        "trained, judged and released by driftloop."
    )
