"""Where a batch's work units run: in this process (`--jobs 1`; a small batch with `--jobs`
left to its default makes its sessions in threads), in local processes (`--jobs N`), or on
Dask distributed (`--scheduler tcp://HOST:PORT`, `--dask-local N`).

One small interface: `submit(fn, *args)` gives a future, `wait(futures)` the ones done (at
least one), `close(cancel)` ends the workers (`cancel`: at once, running work dropped).
Dask is imported only when asked for (`pip install 'audioroutine[cluster]'`).
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from ..core.errors import BuildError, ScriptError
from ..core.limits import MAX_DASK_WORKERS, MAX_JOBS, SCHEDULER_TIMEOUT_S
from ..core.redact import redact
from ..core.urls import scheduler_address

# --jobs left to its default (the cores) keeps a batch this small in this process, where
# starting processes would cost more than they save.
AUTO_MIN_SESSIONS = 4
AUTO_MIN_PHRASES = 32
CLUSTER_HINT = "pip install 'audioroutine[cluster]'"
SCHEDULER_TIMEOUT_ENV = "AUDIOROUTINE_SCHEDULER_TIMEOUT"
WORKER_POLL_S = 5.0   # while waiting for a Dask unit, how often to check that some worker is left
STOP_POLL_S = 0.5     # ... and that the run was not stopped (`Dask.stop`)


class Stopped(KeyboardInterrupt):
    """Raised in a thread waiting for Dask units when the run was stopped (`Dask.stop`: Ctrl-C
    in the main thread while several patients were being built): the thread's batch drops its
    units and temp files, as on Ctrl-C."""


class NoWorkerError(BuildError):
    """Every Dask worker left in the middle of a batch and none came back in time: the run
    stops (a prescription run too: the next patient would have no worker either)."""


@dataclass(frozen=True)
class Parallel:
    """How a batch runs. `jobs`: processes on this machine (None: the cores this process may
    use, small batches staying in this process); `scheduler`: a Dask scheduler address;
    `dask_local`: a Dask LocalCluster of that many workers (both share the phrase cache);
    `timeout`: seconds to reach the scheduler and, once there, to find a worker;
    `executor`: an executor already open (`shared_executor`), used by every batch given this
    Parallel and left open by them (a prescription run: one Dask client for every patient)."""

    jobs: int | None = 1
    scheduler: str | None = None
    dask_local: int | None = None
    timeout: float = SCHEDULER_TIMEOUT_S
    executor: Any = field(default=None, compare=False, repr=False)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # not on Linux
        return max(1, os.cpu_count() or 1)


class Executor(Protocol):
    workers: int
    shares_files: bool        # True: workers write into the output folder themselves
    synthesizes_here: bool    # True: phrases are synthesized in this thread, when submitted

    @property
    def in_flight(self) -> int:
        """Units to keep submitted at once."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any: ...

    def wait(self, futures: Collection[Any]) -> set[Any]: ...

    def close(self, cancel: bool) -> None: ...


class Serial:
    """Every unit runs at once, in this process, when submitted."""

    workers = 1
    shares_files = True
    synthesizes_here = True

    @property
    def in_flight(self) -> int:
        return 1

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args))
        except Exception as err:   # delivered like a worker's error; Ctrl-C still stops the build
            future.set_exception(err)
        return future

    def wait(self, futures: Collection[Any]) -> set[Any]:
        return set(futures)

    def close(self, cancel: bool) -> None:
        from .work import forget_engines

        forget_engines()


class Threads(Serial):
    """In this process, for batches too small for worker processes: phrases are synthesized
    in this thread as their units come, sessions are made in `workers` threads (their work
    is ffmpeg's encoder and decoder and numpy, mostly outside the GIL), so a session encodes
    while the next phrases are synthesized and sessions encode side by side."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="audioroutine-session")

    @property
    def in_flight(self) -> int:
        return 2 * self.workers   # a thread never waits for a session

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        from .work import make_session

        return self.pool.submit(fn, *args) if fn is make_session else super().submit(fn, *args)

    def wait(self, futures: Collection[Any]) -> set[Any]:
        return set(wait_futures(futures, return_when=FIRST_COMPLETED).done)

    def close(self, cancel: bool) -> None:
        self.pool.shutdown(wait=True, cancel_futures=cancel)
        super().close(cancel)


class Processes:
    """A pool of `workers` processes on this machine, started on the first unit. Spawned,
    not forked: onnxruntime's threads do not survive a fork. (Piper runs one thread per
    process, engines/piper.py THREADS: N workers use N cores.)"""

    shares_files = True
    synthesizes_here = False

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init_worker)

    @property
    def in_flight(self) -> int:
        return 2 * self.workers   # a worker never waits for a unit

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        return self.pool.submit(fn, *args)

    def wait(self, futures: Collection[Any]) -> set[Any]:
        return set(wait_futures(futures, return_when=FIRST_COMPLETED).done)

    def close(self, cancel: bool) -> None:
        if cancel:   # Ctrl-C or an error: stop the workers now, their temp files are removed by the caller
            for process in list(getattr(self.pool, "_processes", {}).values()):
                process.terminate()
        self.pool.shutdown(wait=True, cancel_futures=cancel)


def _init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to handle


class Dask:
    """A Dask distributed client: of the scheduler at `address`, or of a LocalCluster of
    `local` single-threaded worker processes. Sessions come back as bytes (a remote worker
    need not see the output folder); the phrase cache must be shared (docs/scaling.md)."""

    shares_files = False
    synthesizes_here = False

    def __init__(self, address: str | None = None, local: int | None = None,
                 timeout: float = SCHEDULER_TIMEOUT_S) -> None:
        try:
            self.dask: Any = importlib.import_module("distributed")
        except ImportError:
            raise BuildError(f"Dask distributed is not installed: {CLUSTER_HINT}") from None
        self.cluster: Any = None
        self.client: Any = None
        self.address, self.timeout = address, timeout
        self.stopping = threading.Event()
        try:
            if address:
                self.client = self.dask.Client(address, timeout=f"{timeout}s")
            else:
                self.cluster = self.dask.LocalCluster(n_workers=local, threads_per_worker=1, processes=True,
                                                      dashboard_address=None)
                self.client = self.dask.Client(self.cluster)
        except (OSError, TimeoutError) as err:   # distributed retries until the timeout, then raises
            self.close(cancel=True)
            raise BuildError(redact(f"cannot reach the Dask scheduler {address} within {timeout:g} s: "
                                    f"{_first_line(err)} (is it running? --scheduler-timeout waits longer; "
                                    "docs/scaling.md)")) from None
        try:   # a scheduler with no worker would hold every unit forever
            self.client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError):
            self.close(cancel=True)
            where = f"the Dask scheduler {address}" if address else "the local Dask cluster"
            start = f"start one: dask worker {address}; " if address else ""
            raise BuildError(redact(f"{where} has no worker: none joined within {timeout:g} s "
                                    f"({start}--scheduler-timeout waits longer)")) from None
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))

    @property
    def in_flight(self) -> int:
        return 2 * self.workers   # a worker never waits for a unit

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.client.submit(fn, *args, pure=False)

    def wait(self, futures: Collection[Any]) -> set[Any]:
        """The units done (at least one). A worker lost costs only its units (the scheduler
        runs them again elsewhere); with no worker left for `timeout` seconds, NoWorkerError;
        once `stop` is called (by another thread), Stopped."""
        alone_since: float | None = None
        while True:
            try:
                return set(self.dask.wait(list(futures), timeout=min(WORKER_POLL_S, STOP_POLL_S, self.timeout),
                                          return_when="FIRST_COMPLETED").done)
            except TimeoutError:
                pass
            if self.stopping.is_set():
                raise Stopped()
            if self.client.nthreads():   # workers are there: the units are running
                alone_since = None
                continue
            now = time.monotonic()
            alone_since = now if alone_since is None else alone_since
            if now - alone_since >= self.timeout:
                where = f"the Dask scheduler {self.address}" if self.address else "the local Dask cluster"
                raise NoWorkerError(redact(f"{where} lost every worker: none for {self.timeout:g} s; build "
                                           "again when workers are back: only what is missing is done "
                                           "(--scheduler-timeout waits longer)"))

    def stop(self) -> None:
        """Make every thread waiting in `wait` raise Stopped (within STOP_POLL_S)."""
        self.stopping.set()

    def close(self, cancel: bool) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _first_line(err: BaseException) -> str:
    text = str(err).strip() or type(err).__name__
    return text.splitlines()[0]


class Borrowed:
    """An executor opened by someone else (`Parallel.executor`) for one batch: closing it
    drops only this batch's units still running (on `cancel`), never the workers."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.workers = executor.workers
        self.shares_files = executor.shares_files
        self.synthesizes_here = executor.synthesizes_here
        self.submitted: list[Any] = []

    @property
    def in_flight(self) -> int:
        return self.executor.in_flight

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        future = self.executor.submit(fn, *args)
        self.submitted.append(future)
        return future

    def wait(self, futures: Collection[Any]) -> set[Any]:
        return self.executor.wait(futures)

    def close(self, cancel: bool) -> None:
        for future in self.submitted:
            if cancel and not future.done():
                future.cancel()
        self.submitted.clear()


def shared_executor(parallel: Parallel) -> Parallel:
    """`parallel` with its executor open, for a run of many small batches (one per patient)
    that should share one set of workers: only for Dask (one client, not one per batch);
    otherwise `parallel` unchanged (a pool is cheap, and its size depends on the batch).
    Close it with `close_shared`."""
    if parallel.executor is None and (parallel.scheduler or parallel.dask_local):
        return replace(parallel, executor=open_executor(parallel, sessions=0, phrases=0))
    return parallel


def close_shared(parallel: Parallel, cancel: bool) -> None:
    if parallel.executor is not None:
        parallel.executor.close(cancel)


def open_executor(parallel: Parallel, sessions: int, phrases: int) -> Executor:
    """The executor for a batch of `sessions` sessions with `phrases` phrases to synthesize."""
    if parallel.executor is not None:
        return Borrowed(parallel.executor)
    if parallel.dask_local is not None and not 1 <= parallel.dask_local <= MAX_DASK_WORKERS:
        raise ScriptError(f"--dask-local must be from 1 to {MAX_DASK_WORKERS}, not {parallel.dask_local}",
                          file="--dask-local")
    if parallel.scheduler:
        return Dask(address=scheduler_address(parallel.scheduler), timeout=parallel.timeout)
    if parallel.dask_local:
        return Dask(local=parallel.dask_local, timeout=parallel.timeout)
    jobs = parallel.jobs
    if jobs is not None and not 1 <= jobs <= MAX_JOBS:
        raise ScriptError(f"--jobs must be from 1 to {MAX_JOBS}, not {jobs}", file="--jobs")
    if jobs is None:
        cores = available_cores()
        if sessions < AUTO_MIN_SESSIONS and phrases < AUTO_MIN_PHRASES:
            return Threads(min(cores, sessions)) if cores > 1 and sessions > 1 else Serial()
        jobs = cores
    return Processes(jobs) if jobs > 1 else Serial()
