from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from config.settings import Settings
from pipeline.replay import copy_batches, isolated_settings


def test_a_replay_writes_under_its_folder_and_tells_nobody(tmp_path: Path) -> None:
    settings = Settings()
    settings.github.token = SecretStr("ghp_real_token")
    settings.notify.webhook_url = SecretStr("https://hooks.example/T0/B0/secret")
    replay = isolated_settings(settings, tmp_path, "never")
    assert replay.github.token is None and replay.notify.webhook_url is None
    assert replay.policy.name == "never"
    assert replay.mlflow.tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    for path in (replay.paths.ledger, replay.paths.reports, replay.paths.gx_root):
        assert path.is_relative_to(tmp_path)
    assert settings.github.token is not None  # the original settings are untouched


def test_batches_are_copied_never_moved(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "b-01.csv").write_text("x\n1\n")
    copies = copy_batches(source, tmp_path / "out")
    assert [p.name for p in copies] == ["b-01.csv"] and (source / "b-01.csv").exists()
