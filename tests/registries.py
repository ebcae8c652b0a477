"""A local MLflow registry for tests: one SQLite file, one model with a few versions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow import MlflowClient


@contextmanager
def local_registry(folder: Path, *, versions: int, name: str = "m") -> Iterator[MlflowClient]:
    """A client of a fresh SQLite registry in `folder` holding `name` v1..v`versions`."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(name)
    for _ in range(versions):
        client.create_model_version(name, source=(folder / "model").as_uri())
    try:
        yield client
    finally:
        mlflow.set_tracking_uri(None)
