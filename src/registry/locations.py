"""Where a registry entry's files really are, kept inside its own experiment's artifact store."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import mlflow
from mlflow import MlflowClient
from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository
from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository
from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository
from mlflow.store.artifact.utils.models import get_model_name_and_version
from mlflow.utils.file_utils import local_file_uri_to_path

from registry.errors import RegistryError

# runs:/ and models:/ entries may point at one another; more hops than this is a loop.
MAX_HOPS = 4
FIX = "register the model again from its training run, or restore the entry in the registry"


@dataclass(frozen=True)
class StoreLocation:
    """A place in an artifact store, normalized: scheme, host, path (resolved when local)."""

    scheme: str
    host: str
    path: PurePosixPath
    # Params, query and fragment: a plain artifact location has none.
    extra: str = ""

    def contains(self, other: StoreLocation) -> bool:
        """Whether `other` is this place or lies below it."""
        return (
            (self.scheme, self.host) == (other.scheme, other.host)
            and not self.extra
            and not other.extra
            and ".." not in other.path.parts
            and other.path.is_relative_to(self.path)
        )


def store_location(uri: str, tracking_uri: str) -> StoreLocation:
    """Normalize an artifact URI the way MLflow resolves it for reading.

    `mlflow-artifacts:` URIs are proxied by the tracking server (or by the host they name), so
    they become that server's URL. Local paths and `file:` URIs become resolved real paths.
    """
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "mlflow-artifacts" and tracking_uri.startswith(("http:", "https:")):
        parsed = urllib.parse.urlparse(MlflowArtifactsRepository.resolve_uri(uri, tracking_uri))
    extra = "".join((parsed.params, parsed.query, parsed.fragment))
    scheme = parsed.scheme.lower()
    user, at, host = parsed.netloc.rpartition("@")
    host = host.lower()
    if at and scheme not in {"http", "https"}:
        # In wasbs://container@account/... the user part names the container: it is part of
        # where the files are (a password, if any, is not).
        host = f"{user.partition(':')[0]}@{host}"
    if scheme in {"", "file"}:
        local = PurePosixPath(Path(local_file_uri_to_path(uri)).resolve())
        return StoreLocation("file", "" if host == "localhost" else host, local, extra)
    # MLflow's object-store readers use the path as it is written (an S3 key may hold %6F);
    # only a URL is percent-decoded by the server that answers it.
    raw = urllib.parse.unquote(parsed.path) if scheme in {"http", "https"} else parsed.path
    if "//" in raw.strip("/"):
        # An object store keeps root//1/x apart from root/1/x; a path would fold them.
        extra += "(empty path segment)"
    path = PurePosixPath("/", raw)
    return StoreLocation(scheme, host, path, extra)


def lies_inside(found: str, root: str, tracking_uri: str) -> bool:
    """Whether artifact URI `found` lies inside artifact URI `root`."""
    return store_location(root, tracking_uri).contains(store_location(found, tracking_uri))


def follow(client: MlflowClient, uri: str) -> str:
    """The storage URI behind `runs:/` and `models:/` URIs, resolved as MLflow resolves them.

    Raises:
        RegistryError: the entries point at one another in a loop.
    """
    for _ in range(MAX_HOPS):
        scheme = urllib.parse.urlparse(uri).scheme
        if scheme == "runs":
            run_id, path = RunsArtifactRepository.parse_runs_uri(uri)
            uri = _joined(client.get_run(run_id).info.artifact_uri, path)
        elif scheme == "models":
            base, path = ModelsArtifactRepository.split_models_uri(uri)
            found = get_model_name_and_version(client, base)
            target = (
                client.get_logged_model(found[0]).artifact_location
                if len(found) == 1
                else client.get_model_version_download_uri(*found)
            )
            uri = _joined(target, path)
        else:
            return uri
    raise RegistryError(f"{uri}: registry entries lead to each other more than {MAX_HOPS} times")


def locate_version_files(client: MlflowClient, uri: str) -> str:
    """Where a registered version's files are, once checked to lie in its run's experiment.

    Args:
        client: Client for the registry and tracking store that hold the version.
        uri: `models:/<name>/<version>` or `models:/<name>@<alias>`.

    Returns:
        The storage URI to download the version's files from.

    Raises:
        RegistryError: the version has no run, or its files lie outside its run's experiment.
    """
    named = get_model_name_and_version(client, uri)
    if len(named) == 1:  # a logged model's id: no registered version, so no run to check
        raise RegistryError(f"{uri}: not a registered model version; score a version or alias")
    name, version = named
    entry = client.get_model_version(name, version)
    label = f"models:/{name}/{version}"
    if not entry.run_id:
        raise RegistryError(f"{label}: the version names no run to check its files against; {FIX}")
    found = follow(client, client.get_model_version_download_uri(name, version))
    return _checked(client, label, found, _experiment_root(client, entry.run_id))


def locate_run_artifacts(client: MlflowClient, run_id: str) -> str:
    """Where a run's artifacts are, once checked to lie in its experiment's artifact store.

    Raises:
        RegistryError: the run's artifacts lie outside its experiment's artifact store.
    """
    found = client.get_run(run_id).info.artifact_uri
    return _checked(client, f"run {run_id}", found, _experiment_root(client, run_id))


def download_confined(uri: str, workdir: Path, tracking_uri: str) -> Path:
    """Download the artifact at `uri` into `workdir` and return its local path.

    Raises:
        RegistryError: the store put the download anywhere but inside `workdir`.
    """
    local = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=uri, dst_path=str(workdir), tracking_uri=tracking_uri
        )
    ).resolve()
    if not local.is_relative_to(workdir.resolve()):
        raise RegistryError(f"{uri}: downloaded to {local}, outside {workdir}; {FIX}")
    return local


def _experiment_root(client: MlflowClient, run_id: str) -> str:
    experiment_id = client.get_run(run_id).info.experiment_id
    return str(client.get_experiment(experiment_id).artifact_location)


def _checked(client: MlflowClient, label: str, found: str, root: str) -> str:
    if not lies_inside(found, root, client.tracking_uri):
        raise RegistryError(
            f"{label}: its files are at {found}, outside {root} (its run's experiment's "
            f"artifact store); {FIX}"
        )
    return found


def _joined(root: str, path: str) -> str:
    return f"{root.rstrip('/')}/{path}" if path else root
