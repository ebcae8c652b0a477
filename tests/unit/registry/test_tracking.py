from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest

from config.manifest import DataFile
from factories import make_frame
from registry import tracking


def context(found) -> str:
    return {t.key: t.value for t in found.tags}["mlflow.data.context"]


@pytest.fixture
def store(tmp_path: Path):
    client = tracking.connect(f"sqlite:///{tmp_path / 'mlflow.db'}")
    yield client, tracking.ensure_experiment(client, "monitor", tmp_path / "artifacts")
    mlflow.set_tracking_uri(None)


@pytest.mark.parametrize(
    ("stage", "version", "expected"),
    [
        ("train", None, "rainfall batch-07.csv"),
        ("train", "3", "rainfall batch-07.csv -> v3"),
        ("monitor", None, "monitor rainfall batch-07.csv"),
        ("score", "3", "score rainfall batch-07.csv with v3"),
    ],
)
def test_runs_are_named_by_dataset_batch_and_version(
    stage: str, version: str | None, expected: str
) -> None:
    assert tracking.run_name(stage, "rainfall", "batch-07.csv", version) == expected


def test_a_dataset_input_reads_its_schema_from_a_sample_and_counts_every_row() -> None:
    frame = make_frame(5000, seed=1)
    found = tracking.dataset_input(
        "b-07.csv",
        context="batch",
        digest="f" * 64,
        source="data/in/b-07.csv",
        frame=frame,
        target="y",
    )
    dataset = found.dataset
    assert (dataset.name, dataset.digest, dataset.source_type) == ("b-07.csv", "f" * 16, "local")
    assert json.loads(dataset.source) == {"uri": "data/in/b-07.csv"}
    assert json.loads(dataset.profile) == {"num_rows": 5000, "num_elements": 25000}
    columns = [c["name"] for c in json.loads(dataset.schema)["mlflow_colspec"]]
    assert columns == ["t", "x1", "x2", "colour", "y"]
    assert {(t.key, t.value) for t in found.tags} == {
        ("mlflow.data.context", "batch"),
        ("driftloop.target", "y"),
    }


def test_a_table_digest_follows_its_content() -> None:
    frame = make_frame(300, seed=2)
    same = tracking.frame_digest(frame.copy())
    assert tracking.frame_digest(frame) == same
    changed = frame.copy()
    changed.loc[7, "x1"] += 1.0
    assert tracking.frame_digest(changed) != same


def test_a_monitoring_run_is_named_and_lists_the_data_it_measured(store, tmp_path: Path) -> None:
    client, experiment = store
    report = tmp_path / "monitor-1.html"
    report.write_text("<html></html>")
    files = (DataFile("data/ref.csv", "1" * 64), DataFile("data/in/b-01.csv", "2" * 64))
    batch = tracking.dataset_input(
        "b-02.csv", context="batch", digest="3" * 64, source="data/in/b-02.csv"
    )
    run_id = tracking.log_monitoring_run(
        experiment,
        name=tracking.run_name("monitor", "toy", "b-02.csv"),
        batch="b-02.csv",
        metrics={"share": 0.1},
        params={"batch": "b-02.csv"},
        report=report,
        summary={},
        inputs=[batch, *tracking.file_inputs(files, context="reference")],
    )
    run = client.get_run(run_id)
    assert run.info.run_name == "monitor toy b-02.csv"
    logged = {(i.dataset.name, i.dataset.digest, context(i)) for i in run.inputs.dataset_inputs}
    assert logged == {
        ("b-02.csv", "3" * 16, "batch"),
        ("ref.csv", "1" * 16, "reference"),
        ("b-01.csv", "2" * 16, "reference"),
    }
    location = tracking.artifact_location(client, run_id, tracking.report_artifact(report))
    assert location == f"runs:/{run_id}/reports/monitor-1.html"
    assert mlflow.artifacts.load_text(location) == "<html></html>"


def test_a_tracking_server_artifact_is_linked_by_its_ui_page_without_credentials() -> None:
    run = SimpleNamespace(info=SimpleNamespace(experiment_id="4"))
    server = SimpleNamespace(
        tracking_uri="https://bot:s3cret@mlflow.example.org/team/", get_run=lambda _: run
    )
    location = tracking.artifact_location(server, "abc", "reports/monitor 1.html")
    assert location == (
        "https://mlflow.example.org/team/#/experiments/4/runs/abc/artifactPath/"
        "reports/monitor%201.html"
    )


def test_the_batch_a_model_was_trained_for_is_found_by_its_hash() -> None:
    files = (DataFile("data/ref.csv", "1" * 64), DataFile("data/in/b-07.csv", "2" * 64))
    assert tracking.batch_file(files, "2" * 64) == "b-07.csv"
    assert tracking.batch_file(files, "9" * 64) is None
    assert tracking.batch_file(files, None) is None
