"""One session's MP3 segments encoded as Dask tasks (audio/segment_tasks.py): the task
(segments.encode_misses) gives the frames an encoder thread gives, and a long session made
on a two-worker cluster is encoded on both workers, in the bytes of a `--jobs 1` build."""

from __future__ import annotations

import hashlib
import pickle
import threading
import time
from concurrent.futures import CancelledError, Future
from pathlib import Path

import numpy as np
import pytest

from audioroutine import BuildOptions, load_script
from audioroutine.audio import loudness, segment_tasks, segments
from audioroutine.audio.lame import Stats
from audioroutine.audio.loudness import LoudnessSettings
from audioroutine.audio.mp3 import encode_normalized
from audioroutine.audio.render import Mix
from audioroutine.run.executors import Parallel
from audioroutine.run.pipeline import build_batch

from ..audio.test_segments import RATE, DictCache, session
from ..conftest import ROOT
from .test_parallel import _sockets


def test_the_task_gives_the_frames_and_counts_of_the_encoder_threads(tmp_path, monkeypatch):
    """A loud phrase with no headroom: some segments are fixed and encoded again. Each batch's
    misses through encode_misses give exactly the cache entries the session's encode wrote,
    and the runs it counted."""
    monkeypatch.setattr(loudness, "HEADROOM_DB", 0.0)
    rng = np.random.default_rng(5)
    loud = (rng.normal(0, 0.3, 2 * RATE).clip(-1, 1) * np.hanning(2 * RATE) * 32767).astype("<i2").tobytes()
    levelled: list[Mix] = []
    encode = segments.encode
    monkeypatch.setattr(segments, "encode", lambda mix, *args: levelled.append(mix) or encode(mix, *args))
    cache = DictCache()
    settings = LoudnessSettings(target=-12, true_peak=-1)
    stats = encode_normalized(session(150, last=loud), tmp_path / "a.mp3", "64k", settings, cache)
    assert stats.encodes > stats.segments                    # a fix: _encode_checked ran in the batch
    mix, = levelled
    plan = segments.plan(mix)
    cuts = [s.start for s in segments.plan(mix, 0)]
    made, spent = [], Stats()
    for batch in segments.batches(plan, RATE):
        args = ([segments.render(mix, s.head, s.end) for s in batch],
                [segments.Segment(0, s.end - s.head, s.keep) for s in batch],
                [[c - s.head for c in cuts if s.head < c < s.end] for s in batch], RATE, "64k", settings)
        frames, counts = pickle.loads(pickle.dumps(segments.encode_misses(*pickle.loads(pickle.dumps(args)))))
        made += frames                                         # pickled both ways, as a Dask task's
        spent.merge(counts)
    entries = {data for key, data in cache.entries.items() if key.startswith("s")}
    assert {segments._entry(e) for e in made} == entries and len(made) == len(plan)
    assert (spent.encodes, spent.decodes, spent.encoded_samples) == (stats.encodes, stats.decodes,
                                                                     stats.encoded_samples)


def test_stats_pickle_without_their_lock_and_merge():
    stats = Stats(segments=3, cached=1, encoded_samples=10, encodes=2, decodes=1)
    again = pickle.loads(pickle.dumps(stats))
    assert again == stats and isinstance(again.lock, type(threading.Lock()))
    again.merge(stats)
    assert (again.segments, again.encodes, again.encoded_samples) == (6, 4, 20)


def test_outside_a_dask_worker_a_session_is_encoded_here(tmp_path, monkeypatch):
    """No task is looked for in a process without distributed, nor in one that has it but is
    not running a worker's task."""
    with segment_tasks.tasks(4, 60, lambda fn, *args: fn(*args)) as found:
        assert found is None
    pytest.importorskip("distributed")
    with segment_tasks.tasks(4, 60, lambda fn, *args: fn(*args)) as found:
        assert found is None


class StubClient:
    def __init__(self) -> None:
        self.submitted: list[tuple[object, ...]] = []
        self.cancelled: list[Future[object]] = []
        self.hold = False                  # True: tasks never end
        self.scattered: list[object] = []

    def submit(self, fn, *args, pure=True):
        assert pure is False
        self.submitted.append(args)
        future: Future[object] = Future()
        if not self.hold:
            future.set_result(fn(*args))
        return future

    def cancel(self, futures):
        for future in futures:
            self.cancelled.append(future)
            future.cancel()

    def scatter(self, data, hash=True):
        assert hash is False and len(data) == 1
        self.scattered.append(data[0])
        return [data[0]]                   # what the task gets in its place (Dask: a future)


def test_a_sessions_misses_go_to_the_cluster_once_they_reach_the_threshold_and_are_cancelled_on_close():
    client = StubClient()
    here: list[object] = []
    tasks = segment_tasks.Tasks(client, 2, 60, lambda fn, *args: here.append(args) or fn(*args))
    assert tasks.run(40, str, 1) == "1" and here == [(1,)] and not client.submitted   # 40 s missed: here
    assert tasks.run(20, str, 2) == "2" and client.submitted == [(2,)]                # 60 s: on the cluster
    client.hold = True                                              # the next one never ends...
    waiting = tasks.pool.submit(tasks.run, 5, str, 3)
    while len(client.submitted) < 2:
        threading.Event().wait(0.01)
    tasks.close()                                                   # ...until the session stops
    with pytest.raises(CancelledError):
        waiting.result(timeout=5)
    assert len(client.cancelled) == 1
    with pytest.raises(CancelledError):
        tasks.run(5, str, 4)


def _mp3s(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.mp3"))}


@pytest.mark.slow   # ~20 s: a two-worker LocalCluster and two builds of the seed's two sessions (9 and 14 min)
def test_a_long_session_on_two_workers_is_encoded_on_both_in_the_bytes_of_jobs_1(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))   # the workers import this tree's audioroutine
    routine = load_script(ROOT / "scripts_yaml" / "upper_middle_back.yaml")

    def options(name: str) -> BuildOptions:
        return BuildOptions(out_dir=tmp_path / name, cache_dir=tmp_path / f"cache-{name}", engine="fake")

    build_batch([routine], options("one"), parallel=Parallel(jobs=1))
    with _sockets(), distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                              dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            with distributed.get_task_stream(client) as stream:
                build_batch([routine], options("dask"), parallel=Parallel(scheduler=cluster.scheduler_address))
            workers = set(cluster.scheduler_info["workers"])
    assert len(_mp3s(tmp_path / "one")) == 2
    assert _mp3s(tmp_path / "dask") == _mp3s(tmp_path / "one")
    encoded = [task for task in stream.data if str(task["key"]).startswith("encode_misses")]
    sessions = [task for task in stream.data if str(task["key"]).startswith("make_session")]
    assert len(sessions) == 2 and len(encoded) >= 6           # 390 s and 610 s encoded: batches of 120 s at most
    assert len(workers) == 2 and {task["worker"] for task in encoded} == workers


def test_a_large_batch_is_sent_ahead_of_its_task():
    """A batch's PCM over SCATTER_BYTES is scattered first (Dask warns of graphs over 10 MB:
    a 120 s batch at 48 kHz is 11.5 MB); a small one goes with its task."""
    client = StubClient()
    tasks = segment_tasks.Tasks(client, 2, 0, lambda fn, *args: fn(*args))
    small, large = [b"x" * 1000], [b"y" * (segment_tasks.SCATTER_BYTES // 2 + 1)] * 2
    assert tasks.run(10, len, small) == 1 and tasks.run(10, len, large) == 2
    assert client.scattered == [large] and client.submitted == [(small,), (large,)]
    tasks.close()


def _slow_len(data: list[bytes]) -> int:
    time.sleep(0.5)                        # long enough for its worker to close while it runs
    return len(data)


@pytest.mark.parametrize("when", ["before its task is submitted", "while its task runs"])
def test_a_batch_whose_scattered_pcm_is_lost_with_its_worker_is_encoded_here(when):
    """A real two-worker cluster: the worker holding a scattered batch closes before the
    batch's task is submitted, or while the task runs there. The scheduler cancels the task
    (scattered data cannot be made again: "lost dependencies", "already forgotten"); the
    session encodes that batch itself and goes on."""
    distributed = pytest.importorskip("distributed")
    with _sockets(), distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                              protocol="tcp", host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            lost: list[str] = []

            class Losing:
                """The client, but the worker holding a scattered batch closes."""

                def __getattr__(self, name: str) -> object:
                    return getattr(client, name)

                def submit(self, fn, *args, pure=True):
                    held, = client.who_has([args[0]]).values()
                    worker = next(w for w in cluster.workers.values() if w.address in held)
                    lost.append(worker.address)
                    if when == "before its task is submitted":
                        client.sync(worker.close)
                        return client.submit(fn, *args, pure=pure)
                    future = client.submit(fn, *args, pure=pure, workers=[worker.address])
                    while not worker.state.executing:
                        time.sleep(0.01)
                    client.sync(worker.close)
                    return future

            here: list[int] = []
            tasks = segment_tasks.Tasks(Losing(), 2, 0, lambda fn, *args: here.append(1) or fn(*args))
            large = [b"y" * (segment_tasks.SCATTER_BYTES + 1)]
            try:
                assert tasks.run(10, _slow_len, large) == 1
            finally:
                tasks.close()
            assert here == [1] and len(lost) == 1
            assert lost[0] not in client.scheduler_info()["workers"]   # the worker really is gone
