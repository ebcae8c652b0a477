from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from local_servers import free_port, start, stop, wait_until_up
from mlflow import MlflowClient

from config.spec import DatasetSpec, TextFeaturizer
from factories import make_frame, spec_for_frames
from registry import models, servable, served_answers, tracking
from registry.locations import locate_version_files
from registry.models import ModelFiles, RegisteredVersion
from registry.servable import PendingServedCheck, ServedCheck
from training.fit import TrainingResult, fit_model
from training.model_code import predict_scores, served_output
from training.params import TrainingParams
from training.served import input_example, model_artifacts, model_code_path, model_code_paths

FAST = TrainingParams(n_estimators=30, max_depth=3, learning_rate=0.3, n_jobs=1)
ROOT = Path(__file__).parents[3]


@dataclass
class Trained:
    spec: DatasetSpec
    result: TrainingResult

    @property
    def sample(self) -> pd.DataFrame:
        return self.result.holdout[list(self.spec.served_columns)].head(40)

    @property
    def expected(self):
        rows, schema = self.sample, self.result.schema
        return served_output(predict_scores(self.result.booster, rows, schema), rows, schema)


@dataclass
class Store:
    uri: str
    client: MlflowClient
    experiment: str
    folder: Path

    def register(self, trained: Trained, *, with_imports: bool = True) -> RegisteredVersion:
        files = self.folder / f"files-{trained.spec.name}"
        example, output = input_example(trained.result, trained.spec)
        return models.log_model_version(
            self.experiment,
            name=trained.spec.name,
            files=ModelFiles(
                code=model_code_path(),
                artifacts=model_artifacts(trained.result, files),
                imports=model_code_paths() if with_imports else (),
            ),
            params={},
            metrics=trained.result.metrics,
            example=example,
            example_output=output,
            manifest=(),
            tags={},
        )

    def version_folder(self, version: RegisteredVersion) -> Path:
        found = locate_version_files(self.client, version.uri)
        return Path(unquote(urlparse(found).path))

    def start(self, case: str, version: RegisteredVersion, trained: Trained, **kwargs):
        return servable.start_served_check(
            version.uri,
            trained.sample,
            tracking_uri=self.uri,
            registry_uri=self.uri,
            workdir=self.folder / f"check {case}",
            **kwargs,
        )


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


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("served")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = tracking.connect(uri)
    experiment = tracking.ensure_experiment(client, "train", folder / "artifacts")
    yield Store(uri, client, experiment, folder)
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture(scope="module")
def toy(store: Store) -> Trained:
    spec = DatasetSpec.model_validate(spec_for_frames("toy", "r.parquet", "in"))
    return Trained(spec, fit_model(make_frame(600, seed=3), spec, FAST))


@pytest.fixture(scope="module")
def texts(store: Store) -> Trained:
    spec = DatasetSpec(
        name="reviews",
        task="binary",
        target="y",
        timestamp="t",
        features={"categorical": ("colour",), "text": ("review",)},
        reference=store.folder / "reference.parquet",
        incoming=store.folder / "incoming",
        text_features=TextFeaturizer(char_ngrams=(3, 4), max_features=100),
    )
    return Trained(spec, fit_model(reviews(400, seed=1), spec, FAST))


@pytest.fixture(scope="module")
def started(store: Store, toy: Trained, texts: Trained) -> dict[str, PendingServedCheck]:
    """Every case's check, started together (as the flow starts one before evaluating)."""
    versions = {name: store.register(toy) for name in ("good", "corrupt", "no booster")}
    versions["no code"] = store.register(toy, with_imports=False)
    files = {name: store.version_folder(v) / "artifacts" for name, v in versions.items()}
    (files["corrupt"] / "model.ubj").write_bytes(b"\x00garbage, not a booster\xff" * 8)
    (files["no booster"] / "model.ubj").unlink()
    checks = {name: store.start(name, v, toy) for name, v in versions.items()}
    checks["text"] = store.start("text", store.register(texts), texts)
    return checks


@pytest.mark.slow
def test_a_good_version_answers_as_the_pipeline_scores(started, toy: Trained) -> None:
    check = started["good"].result(toy.expected)
    assert check.servable, check.reason
    assert check.rows == 40
    assert check.max_difference is not None
    assert check.max_difference <= 1e-6
    assert 0 < check.seconds < 300
    assert str(check).startswith("servable: toy v1 answers as in-process")


@pytest.mark.slow
def test_a_version_with_a_corrupt_booster_is_not_servable(started, toy: Trained) -> None:
    check = started["corrupt"].result(toy.expected)
    assert not check.servable
    assert check.reason.startswith("toy v2 does not load through MLflow: XGBoostError")
    assert check.reason.endswith("(corrupt booster?)")
    assert "Stack trace" not in check.reason
    assert check.max_difference is None


@pytest.mark.slow
def test_a_version_missing_its_booster_is_not_servable(started, toy: Trained) -> None:
    check = started["no booster"].result(toy.expected)
    assert not check.servable
    assert check.reason.startswith("toy v3 does not load through MLflow: XGBoostError: Opening ")
    assert check.reason.endswith("model.ubj failed: No such file or directory (missing artifact?)")


@pytest.mark.slow
def test_a_version_logged_without_its_codes_modules_is_not_servable(started, toy) -> None:
    # The editable install makes `training` importable here; a serving image has no driftloop.
    check = started["no code"].result(toy.expected)
    assert not check.servable
    assert check.reason.startswith("toy v4 does not load through MLflow: MlflowException: ")
    assert check.reason.endswith(
        "Error: No module named 'row_features' (code the model was not logged with?)"
    )


@pytest.mark.slow
def test_answers_beyond_the_tolerance_are_not_servable(started, toy: Trained) -> None:
    check = started["good"].result(np.asarray(toy.expected) + 1e-3)
    assert not check.servable
    assert "differ from in-process scores by 0.001 > 1e-06" in check.reason
    assert check.max_difference == pytest.approx(1e-3)
    assert started["good"].result(np.asarray(toy.expected) + 1e-3, tolerance=1e-2).servable


@pytest.mark.slow
def test_answers_of_another_shape_are_not_servable(started, toy: Trained) -> None:
    check = started["good"].result(np.asarray(toy.expected)[:10])
    assert not check.servable
    assert "answers 40x1" in check.reason


@pytest.mark.slow
def test_a_text_model_answers_raw_text(started, texts: Trained) -> None:
    check = started["text"].result(texts.expected)
    assert check.servable, check.reason


@pytest.mark.slow
def test_a_check_past_its_timeout_is_not_servable(store: Store, started, toy: Trained) -> None:
    version = models.get_version(store.client, "toy", "1")
    pending = store.start("slow", version, toy, timeout_seconds=0.01)
    check = pending.result(toy.expected)
    assert not check.servable
    assert check.reason == "toy v1 did not answer through MLflow within 0.01s"
    assert pending.result(toy.expected).reason == check.reason


@pytest.mark.slow
def test_the_version_is_tagged_with_the_verdict(store: Store, started, toy: Trained) -> None:
    bad = started["corrupt"].result(toy.expected)
    servable.mark_not_servable(store.client, "toy", "2", bad)
    good = started["good"].result(toy.expected)
    servable.mark_servable(store.client, "toy", "1", good)
    tags = {v: store.client.get_model_version("toy", v).tags for v in ("1", "2")}
    assert tags["2"][servable.SERVABLE_TAG] == f"false: {bad.reason}"
    assert tags["1"][servable.SERVABLE_TAG].startswith("true: toy v1 answers as in-process")


def test_nan_where_a_number_is_expected_is_a_difference() -> None:
    served = pd.DataFrame({"0": [0.5, np.nan]})
    problem, _ = served_answers.compare_answers(
        served, pd.DataFrame({"0": [0.5, 0.2]}), tolerance=1e-6
    )
    assert problem is not None
    assert "NaN" in problem
    assert served_answers.compare_answers(served, served.copy(), tolerance=1e-6) == (None, 0.0)


def test_labels_must_be_equal() -> None:
    expected = pd.DataFrame({"label": ["a", "b"], "p": [0.1, 0.9]})
    served = pd.DataFrame({"label": ["a", "c"], "p": [0.1, 0.9]})
    problem, _ = served_answers.compare_answers(served, expected, tolerance=1e-6)
    assert problem == "answers other labels than expected in column 'label'"


def test_a_check_reads_as_one_line() -> None:
    check = ServedCheck(False, "toy v3 does not load through MLflow: OSError: gone", 50, None, 2.5)
    assert (
        str(check)
        == "not servable: toy v3 does not load through MLflow: OSError: gone (50 rows, 2.5s)"
    )


def test_the_blocked_packages_are_driftloops_packages() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert {Path(p).name for p in packages} | {"sklearn"} == set(servable.BLOCKED_PACKAGES)


def test_a_long_error_reads_as_its_start_and_its_end() -> None:
    outcome = {"stage": "sample", "error": "KeyError", "message": "x" * 500 + " 'review'\n..."}
    reason = served_answers.failure_reason("toy v2", outcome)
    assert reason.startswith("toy v2 fails to score the sample through MLflow: KeyError: xxx")
    assert " ... " in reason
    assert reason.endswith("xx 'review' ...")
    assert len(reason) < 400


def test_a_check_that_dies_without_an_answer_is_not_servable(tmp_path: Path) -> None:
    (tmp_path / "probe.log").write_text("Killed\n")
    died = subprocess.Popen([sys.executable, "-c", "raise SystemExit(137)"])
    check = PendingServedCheck(died, tmp_path, "toy v9", 60).result(np.zeros(3))
    assert not check.servable
    assert check.reason == "toy v9's check exited with code 137: Killed"
    assert check.rows == 3


@pytest.mark.integration
@pytest.mark.slow
def test_mlflow_scoring_server_answers_raw_text(store: Store, texts: Trained) -> None:
    """`mlflow models serve` on a text model: a request of raw review text gets its scores."""
    version = store.register(texts)
    port, bin_dir = free_port(), Path(sys.executable).parent
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": store.uri,
        "MLFLOW_REGISTRY_URI": store.uri,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [
        *(str(bin_dir / "mlflow"), "models", "serve", "-m", version.uri),
        *("--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)),
    ]
    log = store.folder / "serve.log"
    server = start(command, env, log, cwd=store.folder)
    rows = pd.DataFrame(
        {"colour": ["red", "blue"], "review": ["a lovely gripping film", "a dull and weak film"]}
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/ping", server, 180, log)
        body = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
        answer = httpx.post(f"{url}/invocations", json=body, timeout=30)
        assert answer.status_code == 200, answer.text
        served = answer.json()["predictions"]
    finally:
        stop(server)
    schema = texts.result.schema
    local = served_output(predict_scores(texts.result.booster, rows, schema), rows, schema)
    assert served == pytest.approx(list(local), abs=1e-6)
    assert served[0] > 0.5 > served[1]  # the words decide
