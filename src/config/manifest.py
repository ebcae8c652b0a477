"""The training-data manifest: which files a model was trained on, by path and content hash.

A value every stage passes around (runs build and read it, the registry stores it with each
version, the model card lists it), so it lives beside the spec, below all of them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class DataFile:
    """One data file: its path (relative to the project when inside it) and its hashes.

    `md5` is DVC's content hash of the file (the key of its DVC cache and remote object);
    `pointer` is what tracks it in DVC (a `.dvc` file, or `dvc.lock` for a stage output), empty
    when nothing does.
    """

    path: str
    sha256: str
    md5: str = ""
    pointer: str = ""


Manifest = tuple[DataFile, ...]


def manifest_json(manifest: Sequence[DataFile]) -> str:
    """The manifest as stored with a model version: a JSON list of {path, sha256}."""
    return json.dumps([asdict(entry) for entry in manifest], indent=2)


def parse_manifest(text: str) -> Manifest:
    """Read a manifest stored by `manifest_json` (manifests from before DVC hashes have none)."""
    return tuple(
        DataFile(
            path=str(e["path"]),
            sha256=str(e["sha256"]),
            md5=str(e.get("md5", "")),
            pointer=str(e.get("pointer", "")),
        )
        for e in json.loads(text)
    )


def content_hashes(manifest: Sequence[DataFile]) -> set[str]:
    """The content hashes of the manifest's files."""
    return {entry.sha256 for entry in manifest}
