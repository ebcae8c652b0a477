"""The engine a run computes on: this process, or a Dask cluster (a scheduler or a LocalCluster).

Stage code asks the engine to run a function on each of many items (partitions, trials) and gets
the results back in order; the same code then runs in one process or spread over workers.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from compute.errors import EngineError

logger = logging.getLogger(__name__)

T = TypeVar("T")
EngineKind = Literal["local", "dask"]
# Seconds to wait for a scheduler named by address (a cluster that is not up fails the run).
CONNECT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Engine:
    """Runs work in this process (`client` None) or on the Dask cluster behind `client`."""

    client: Any = None  # distributed.Client; Any so that importing this module needs no dask

    @property
    def distributed(self) -> bool:
        """Whether work goes to a Dask cluster."""
        return self.client is not None

    @property
    def workers(self) -> int:
        """How many workers share the work (1 in this process)."""
        if self.client is None:
            return 1
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def map(self, fn: Callable[..., T], items: Sequence[Any], *args: Any, **kwargs: Any) -> list[T]:
        """`[fn(item, *args, **kwargs) for item in items]`, on the workers when distributed.

        Results come back in the order of `items`; an error in one raises here.
        """
        if self.client is None:
            return [fn(item, *args, **kwargs) for item in items]
        shared = [self.share(a) for a in args]
        futures = self.client.map(
            fn, list(items), *[[a] * len(items) for a in shared], pure=False, **kwargs
        )
        return list(self.client.gather(futures))

    def release_memory(self) -> None:
        """Hand memory the workers freed back to the system (no-op in this process).

        Arrow's allocator and glibc keep freed blocks for reuse, so a worker that has read many
        partitions holds far more than its live data, and the nanny restarts a worker whose
        process passes its limit. Called between heavy phases, before training.
        """
        if self.client is not None:
            self.client.run(release_unused_memory)

    def share(self, value: Any) -> Any:
        """`value` as every worker's task can take it: sent once, not once per task."""
        if self.client is None or isinstance(value, str | int | float | bool | type(None)):
            return value
        return self.client.scatter(value, broadcast=True, hash=False)


LOCAL = Engine()


def release_unused_memory() -> None:
    """Return this process's freed memory to the system: Arrow's pool, then glibc's heap."""
    import pyarrow as pa  # noqa: PLC0415 - a worker has it (it reads Parquet)

    pa.default_memory_pool().release_unused()
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl): nothing to trim
        return
    libc.malloc_trim(0)


@contextmanager
def open_engine(
    kind: EngineKind,
    *,
    address: str | None = None,
    workers: int = 2,
    threads_per_worker: int = 1,
    memory_limit: str = "auto",
) -> Iterator[Engine]:
    """The engine for a run, closed after it (a LocalCluster it started is shut down).

    `dask` with an `address` connects to that scheduler; without one it starts a LocalCluster
    of `workers` processes on 127.0.0.1 (no dashboard), each limited to `memory_limit`.

    Raises:
        EngineError: the scheduler at `address` cannot be reached, or the cluster cannot start.
    """
    if kind == "local":
        yield LOCAL
        return
    from distributed import Client, LocalCluster  # noqa: PLC0415 - only the dask engine needs it

    if address:
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise EngineError(
                f"cannot reach the Dask scheduler at {address} ({exc}): start it, or unset "
                "DRIFTLOOP_ENGINE__ADDRESS to run on a LocalCluster"
            ) from exc
        with client:
            logger.info("computing on the Dask cluster at %s", address)
            yield Engine(client)
        return
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=threads_per_worker,
        memory_limit=memory_limit,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    with cluster, Client(cluster) as client:
        logger.info(
            "computing on a LocalCluster: %d workers x %d threads, %s each",
            workers,
            threads_per_worker,
            memory_limit,
        )
        yield Engine(client)
