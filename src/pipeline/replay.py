"""The replay workspace: settings pointed at a folder of its own, and copies of the batches."""

from __future__ import annotations

import shutil
from pathlib import Path

from config.settings import PolicyName, Settings
from runs.batches import list_batches


def isolated_settings(settings: Settings, root: Path, policy: PolicyName | None) -> Settings:
    """Settings whose registry, ledger, GX results and reports all live under `root`."""
    paths = settings.paths.model_copy(
        update={
            "reports": root / "reports",
            "quarantine": root / "quarantine",
            "ledger": root / "ledger.jsonl",
            "gx_root": root / "great_expectations",
        }
    )
    tracking = settings.mlflow.model_copy(
        update={
            "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
            "artifact_root": root / "mlartifacts",
        }
    )
    chosen = settings.policy.model_copy(update={"name": policy}) if policy else settings.policy
    # A replay never asks CI to ship anything (the CD hand-off is recorded, not sent) and
    # never posts to the team's channel.
    github = settings.github.model_copy(update={"token": None})
    notify = settings.notify.model_copy(update={"webhook_url": None})
    return settings.model_copy(
        update={
            "paths": paths,
            "mlflow": tracking,
            "policy": chosen,
            "github": github,
            "notify": notify,
        }
    )


def copy_batches(source: Path, target: Path) -> list[Path]:
    """Copy the batch files of `source` into a fresh `target` (the originals are never moved)."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    return [Path(shutil.copy2(p, target / p.name)) for p in list_batches(source)]
