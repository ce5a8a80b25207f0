"""A session's segments encoded as Dask tasks, when the session is itself made in a Dask
worker's task (run/work.make_session on `--scheduler` or `--dask-local`): segments.encode
hands each batch's misses to `Tasks.run`, which submits them to the cluster, so one long
session is encoded on the cores of every worker, not only on those of its own.

A worker runs one task at a time (executors.Dask: single-threaded workers), so the session's
task secedes from the worker's pool while it waits (`distributed.worker_client`): else two
workers, each waiting on tasks queued behind the other's session, would wait forever. The
tasks are pure (segments.encode_misses: PCM in, frames out): one lost with its worker is run
again elsewhere, and one whose scattered batch was lost with its worker is encoded here.
Dask distributed is an optional extra, imported only when this process already runs it (a
worker has imported it; a local build has not).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
SCATTER_BYTES = 4 << 20      # a batch's PCM over this goes to the cluster before its task


class Tasks:
    """Where a session's batches run when it is made in a Dask task: `pool` (threads that look
    batches up in the cache, render and store them, `window` of them: a thread waiting on a
    task costs nothing) and `run`, which encodes a batch's misses here (`local`) until the
    session has missed `least` seconds of audio, then as a task on the cluster."""

    def __init__(self, client: Any, window: int, least: float, local: Callable[..., Any]) -> None:
        self.client, self.least, self.local = client, least, local
        self.pool = ThreadPoolExecutor(window, thread_name_prefix="audioroutine-dask-encode")
        self.lock = threading.Lock()
        self.futures: set[Any] = set()
        self.missed = 0.0
        self.closed = False

    def run(self, seconds: float, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)`, encoding `seconds` of audio: here, or as a task (pure=False: each batch
        its own task, whatever its arguments)."""
        with self.lock:
            if self.closed:
                raise CancelledError()
            self.missed += seconds
            future = self.client.submit(fn, *_scattered(self.client, args), pure=False) \
                if self.missed >= self.least else None
            if future is not None:
                self.futures.add(future)
        if future is not None:
            try:
                return future.result()       # type: ignore[no-any-return]
            except CancelledError:
                with self.lock:
                    if self.closed:          # cancelled by close: the session stopped
                        raise
                # Cancelled by the scheduler: the worker holding the scattered batch died
                # before the task had read it ("lost dependencies" when it died before the
                # submit, "already forgotten" after), and scattered data cannot be made again.
            finally:
                with self.lock:
                    self.futures.discard(future)
        return self.local(fn, *args)         # type: ignore[no-any-return]

    def close(self) -> None:
        """Drop the tasks still pending or running (the session failed or was stopped) and the
        batches not started."""
        with self.lock:
            self.closed = True
            pending, self.futures = list(self.futures), set()
        if pending:
            self.client.cancel(pending)
        self.pool.shutdown(wait=False, cancel_futures=True)


def _scattered(client: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """`args`, its first (the batch's PCM) sent to the cluster ahead of the task when it is
    over SCATTER_BYTES (a 120 s batch at 48 kHz is 11.5 MB: Dask warns of a graph over 10 MB)."""
    if args and isinstance(args[0], list) and sum(map(len, args[0])) > SCATTER_BYTES:
        return (client.scatter([args[0]], hash=False)[0], *args[1:])
    return args


@contextmanager
def tasks(window: int, least: float, local: Callable[..., Any]) -> Iterator[Tasks | None]:
    """Tasks for a session, with this thread seceded from the worker's pool until the end,
    when this thread runs a task of a Dask worker whose cluster has more than one worker;
    else None (encode here)."""
    client = _worker_client()
    if client is None:
        yield None
        return
    distributed: Any = sys.modules["distributed"]
    with distributed.worker_client():     # secede; rejoin at the end
        found = Tasks(client, window, least, local)
        try:
            yield found
        finally:
            found.close()


def _worker_client() -> Any:
    """The worker's client when this thread runs a Dask task and the cluster has more than
    one worker, else None. Imports nothing: a process running a Dask worker has imported
    distributed already."""
    if "distributed" not in sys.modules:
        return None
    try:
        from distributed import get_client, get_worker

        get_worker()                          # ValueError outside a worker's task
        client: Any = get_client()
    except (ImportError, ValueError):
        return None
    return client if len(client.nthreads()) > 1 else None
