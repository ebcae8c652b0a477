from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from config.settings import Settings
from delivery.dispatch import DispatchRequest, DispatchResult
from delivery.errors import DispatchError
from pipeline import shipping
from registry.errors import RollbackError
from registry.history import read_history
from registry.release import pending_release, promote_challenger

ALIASES = {
    "production_alias": "production",
    "previous_alias": "previous",
    "challenger_alias": "challenger",
}


@pytest.fixture
def setup(tmp_path: Path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("m")
    for _ in range(3):
        client.create_model_version("m", source=(tmp_path / "model").as_uri(), run_id=None)
    settings = Settings().model_copy(deep=True)
    settings.paths.ledger = tmp_path / "data" / "ledger.jsonl"
    settings.paths.reports = tmp_path / "reports"
    yield client, settings
    mlflow.set_tracking_uri(None)


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[str] = []
        self.fail = fail

    def __call__(self, request: DispatchRequest) -> DispatchResult:
        if self.fail:
            raise DispatchError("GitHub answered 503", status=503)
        version = request.body["client_payload"]["model_version"]
        self.sent.append(version)
        return DispatchResult(sent=True, status=204, request=request, note="dispatched")


def release(client: MlflowClient, settings: Settings, version: str, against: str | None):
    action = promote_challenger(
        client,
        name="m",
        version=version,
        promote=True,
        reason="better",
        evaluated_against=against,
        actor="t",
        batch=None,
        **ALIASES,
    )
    assert action.release is not None
    return action.release


def test_ship_tells_cd_once_and_closes_the_release(setup) -> None:
    client, settings = setup
    deliver = Recorder()
    shipping.ship(client, settings, release(client, settings, "1", None), deliver)
    assert deliver.sent == ["1"] and pending_release(client, "m", "production") is None
    assert shipping.complete_interrupted(client, settings, "m", deliver) is None
    assert deliver.sent == ["1"]


def test_a_failed_dispatch_leaves_the_release_open_for_the_next_run(setup) -> None:
    client, settings = setup
    opened = release(client, settings, "1", None)
    with pytest.raises(DispatchError):
        shipping.ship(client, settings, opened, Recorder(fail=True))
    assert pending_release(client, "m", "production") == opened
    deliver = Recorder()
    done = shipping.complete_interrupted(client, settings, "m", deliver)
    assert done is not None and done.release == opened and deliver.sent == ["1"]


def test_rollback_goes_to_previous_records_it_and_ships(setup) -> None:
    client, settings = setup
    deliver = Recorder()
    shipping.ship(client, settings, release(client, settings, "1", None), deliver)
    shipping.ship(client, settings, release(client, settings, "2", "1"), deliver)
    done, repaired = shipping.rollback(
        client, settings, name="m", to_version=None, reason="bad latency", deliver=deliver
    )
    assert repaired is None and done.release.to_version == "1"
    aliases = {k: str(v) for k, v in client.get_registered_model("m").aliases.items()}
    assert aliases["production"] == "1" and aliases["previous"] == "2"
    assert deliver.sent == ["1", "2", "1"]
    last = read_history(client, "m")[-1]
    assert (last.action, last.alias, last.to_version) == ("rollback", "previous", "2")


def test_rollback_refuses_what_it_cannot_do(setup) -> None:
    client, settings = setup
    deliver = Recorder()
    with pytest.raises(RollbackError, match="no `production` version"):
        shipping.rollback(client, settings, name="m", to_version=None, reason="r", deliver=deliver)
    shipping.ship(client, settings, release(client, settings, "1", None), deliver)
    with pytest.raises(RollbackError, match="no `previous` version"):
        shipping.rollback(client, settings, name="m", to_version=None, reason="r", deliver=deliver)
    with pytest.raises(RollbackError, match="already `production`"):
        shipping.rollback(client, settings, name="m", to_version="1", reason="r", deliver=deliver)
    with pytest.raises(RollbackError, match="no version 7"):
        shipping.rollback(client, settings, name="m", to_version="7", reason="r", deliver=deliver)
    assert deliver.sent == ["1"]
