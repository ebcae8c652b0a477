"""The locks that make one dataset's runs take turns and serialize its model's releases.

Two kinds, chosen by `promotion.lock_backend`:
- `file` (the default): lock files in one folder next to the run ledger. Runs on one host, or
  on hosts that share that folder, coordinate through them; the OS releases a lock when its
  process dies.
- `prefect`: the one slot of a Prefect global concurrency limit on the Prefect server, for
  hosts that share only the servers. The slot is leased: the holder renews it while it runs,
  and the server takes back the slot of a holder that died once its lease runs out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from filelock import FileLock
from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from registry.errors import RegistryError

logger = logging.getLogger(__name__)

# The shortest lease Prefect grants; a dead holder's slot is free again after about this long.
LEASE_SECONDS = 60.0


def release_lock(folder: Path, name: str, *, timeout: float) -> FileLock:
    """The lock file that serializes releases of one model (promotions, repairs, rollbacks)."""
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(folder / f"{name}.release.lock", timeout=timeout)


def run_lock(folder: Path, name: str, *, timeout: float) -> FileLock:
    """The lock file that makes runs of one dataset take turns (batches are processed in order).

    A second run started meanwhile waits, then takes the next unprocessed batch, so each batch
    is processed once.
    """
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(folder / f"{name}.run.lock", timeout=timeout)


def server_lock(
    limit: str, *, timeout: float, lease_seconds: float = LEASE_SECONDS
) -> AbstractContextManager[None]:
    """A lock held as the only slot of the Prefect global concurrency limit `limit`.

    The limit is created (with one slot) the first time; one that exists with more slots, or
    disabled, is refused, since it would let two holders in at once.

    Raises:
        TimeoutError: the slot was not free within `timeout` seconds.
        RegistryError: the limit exists with more than one slot, or disabled.
    """

    @contextmanager
    def held() -> Iterator[None]:
        _one_slot_limit(limit)
        with concurrency(
            limit, occupy=1, timeout_seconds=timeout, strict=True, lease_duration=lease_seconds
        ):
            yield

    return held()


def _one_slot_limit(limit: str) -> None:
    with get_client(sync_client=True) as client:
        try:
            found = client.read_global_concurrency_limit_by_name(limit)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=limit, limit=1)
                )
                logger.info("created the Prefect concurrency limit %s (1 slot)", limit)
            except ObjectAlreadyExists:  # another host created it meanwhile
                pass
            return
    if found.limit != 1 or not found.active:
        shown = f"{found.limit} slots" if found.active else "been disabled"
        raise RegistryError(
            f"the Prefect concurrency limit {limit!r} has {shown}, so it cannot serve as a "
            f"lock: `prefect gcl update {limit} --limit 1 --enable`"
        )
