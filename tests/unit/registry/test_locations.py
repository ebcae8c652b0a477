from __future__ import annotations

from pathlib import Path

import pytest

from registry.locations import lies_inside

SERVER = "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    "found",
    [
        "mlflow-artifacts:/1/models/m-abc/artifacts",
        "mlflow-artifacts:/1/0123/artifacts/model",
        f"{SERVER}/api/2.0/mlflow-artifacts/artifacts/1/models/m-abc/artifacts",
    ],
)
def test_proxied_artifacts_of_the_experiment_lie_inside_it(found: str) -> None:
    assert lies_inside(found, "mlflow-artifacts:/1", SERVER)


@pytest.mark.parametrize(
    "found",
    [
        "mlflow-artifacts://other.host/1/models/m-abc/artifacts",
        "mlflow-artifacts:/10/models/m-abc/artifacts",
        "mlflow-artifacts:/2/models/m-abc/artifacts",
        "mlflow-artifacts:/1/../2/models/m-abc",
        "mlflow-artifacts:/1/%2e%2e/2/models/m-abc",
        "https://127.0.0.1:5000/api/2.0/mlflow-artifacts/artifacts/1/models",
        "http://127.0.0.1:5001/api/2.0/mlflow-artifacts/artifacts/1/models",
        "s3://bucket/1/models/m-abc",
    ],
)
def test_other_servers_experiments_and_schemes_lie_outside(found: str) -> None:
    assert not lies_inside(found, "mlflow-artifacts:/1", SERVER)


@pytest.mark.parametrize(
    ("found", "inside"),
    [
        ("s3://bucket/root/1/models/m-abc", True),
        ("s3://bucket/root-evil/1/models/m-abc", False),
        ("s3://bucket-evil/root/1/models/m-abc", False),
        ("s3://BUCKET/root/1", True),
        ("gs://bucket/root/1", False),
        ("s3://bucket/root/1?versionId=3", False),
        ("s3://bucket/root//1/models/m-abc", False),
        ("s3://bucket/ro%6Ft/1/model", False),  # the key is ro%6Ft/..., not root/...
    ],
)
def test_cloud_locations_compare_by_scheme_bucket_and_whole_segments(
    found: str, inside: bool
) -> None:
    assert lies_inside(found, "s3://bucket/root", SERVER) is inside


def test_local_locations_compare_resolved_paths(tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    (root / "1").mkdir(parents=True)
    (tmp_path / "mlruns-evil").mkdir()
    link = root / "1" / "out"
    link.symlink_to(tmp_path / "mlruns-evil", target_is_directory=True)
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert lies_inside((root / "1" / "m").as_uri(), root.as_uri(), tracking)
    assert lies_inside(str(root / "1"), root.as_uri(), tracking)
    assert not lies_inside((tmp_path / "mlruns-evil").as_uri(), root.as_uri(), tracking)
    assert not lies_inside(f"{root.as_uri()}/../mlruns-evil", root.as_uri(), tracking)
    assert not lies_inside(link.as_uri(), root.as_uri(), tracking)
    assert not lies_inside(f"file://other.host{root}/1", root.as_uri(), tracking)
    assert not lies_inside("file:///etc/passwd", root.as_uri(), tracking)


@pytest.mark.parametrize(
    ("found", "inside"),
    [
        ("wasbs://good@acct.blob.core.windows.net/root/1/models/m-abc", True),
        ("wasbs://evil@acct.blob.core.windows.net/root/1/models/m-abc", False),
        ("abfss://evil@acct.dfs.core.windows.net/root/1", False),
    ],
)
def test_an_azure_container_is_part_of_the_location(found: str, inside: bool) -> None:
    root = "wasbs://good@acct.blob.core.windows.net/root"
    assert lies_inside(found, root, SERVER) is inside
