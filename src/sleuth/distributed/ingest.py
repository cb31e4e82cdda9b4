"""Distributed ingest: encode on Ray workers, write on the driver in atomic batches.

::

    driver: read + check the input ─► plan: texts the cache lacks ─► Ray Data dataset
    workers (actor pool, encoder loaded once each): map_batches(EncodeBatch) ─► vectors
    driver: each batch's vectors into the embedding cache (one transaction: acknowledged)
            ─► the items whose vectors are all there, ``upsert``/``add`` in batches

What is acknowledged stays: a vector is in the collection's embedding cache (the store's
``vectors`` table) the moment its batch comes back, and an item batch is one transaction.
A worker that dies is restarted by Ray Data and its batch retried; if the job fails instead
(or the driver is stopped), running it again writes what is missing and sends to the workers
only the texts whose vectors the cache does not hold.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sleuth.checks import check_float, check_int
from sleuth.config import CollectionConfig
from sleuth.distributed.cluster import Cluster, connect, import_ray
from sleuth.distributed.reading import Plan, plan, read_source
from sleuth.distributed.workers import EncodeBatch
from sleuth.engine import Collection, WriteResult
from sleuth.errors import InvalidInput, SleuthError
from sleuth.opening import open_collection
from sleuth.progress import progress_bar
from sleuth.store.schema import FILENAME

__all__ = ["IngestReport", "add"]

WRITE_BATCH = 512  # items per write transaction (at least)


@dataclass
class IngestReport:
    """What a job did. ``encoded``: texts the workers encoded and the driver cached;
    ``cached``: distinct texts the cache held before; ``given``: items that brought their
    vector; ``batches``: write transactions; ``per_worker``: texts per worker process (a
    restarted actor is a new process: ``restarts`` counts the processes beyond ``workers``);
    ``timings`` in seconds: ``cluster`` (start or join), ``read``, ``plan``, ``pipeline``
    (first batch sent to last item written; ``first_batch``: until the first came back,
    workers' start-up included), ``write`` (the driver's cache and item writes),
    ``load`` and ``busy`` (summed over workers: loading the encoder, encoding), ``total``."""

    result: WriteResult
    items: int = 0
    encoded: int = 0
    cached: int = 0
    given: int = 0
    batches: int = 0
    workers: int = 0
    per_worker: dict[int, int] = field(default_factory=dict)
    truncated: int = 0
    cluster: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def restarts(self) -> int:
        return max(0, len(self.per_worker) - self.workers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.result.added,
            "updated": self.result.updated,
            "unchanged": self.result.unchanged,
            "items": self.items,
            "encoded": self.encoded,
            "cached": self.cached,
            "given": self.given,
            "batches": self.batches,
            "workers": self.workers,
            "per_worker": {str(k): v for k, v in self.per_worker.items()},
            "restarts": self.restarts,
            "truncated": self.truncated,
            "cluster": self.cluster,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


def add(
    collection: Collection | str | Path,
    source: str | Path | list[Any],
    *,
    address: str | None = None,
    workers: int = 2,
    worker_cpus: float = 1.0,
    worker_gpus: float = 0.0,
    threads: int | None = None,
    batch: int = 64,
    write_batch: int = WRITE_BATCH,
    upsert: bool = True,
    encoder: str | None = None,
    progress: bool | None = None,
    on_batch: Callable[[IngestReport], None] | None = None,
) -> IngestReport:
    """Add the items of ``source`` (a file or folder ``sleuth add`` reads, or a list of items)
    to ``collection`` (an open one, or a folder, created with ``encoder`` if new), encoding
    their texts on ``workers`` Ray actors of ``worker_cpus`` CPUs and ``worker_gpus`` GPUs
    each, ``threads`` torch threads each (default: one per CPU), ``batch`` texts per task,
    ``write_batch`` items at least per write transaction.
    ``address``: a Ray cluster (``ray://host:10001``, ``host:6379``); None: the one this
    process joined, else ``RAY_ADDRESS``'s, else a local one started and stopped by the job
    (``connect``); no cluster at all when the cache holds every text. ``upsert=False``: every
    id must be new (``Conflict`` before anything is written). ``on_batch``: called with the
    report so far after each committed write. Items equal what plain ``add`` stores.

    >>> report = sleuth.distributed.add("col", "corpus.jsonl", workers=2)  # doctest: +SKIP
    >>> report.encoded, report.per_worker  # doctest: +SKIP
    """
    workers = int(check_int(workers, "workers", 1, 4096) or 1)
    cpus = float(check_float(worker_cpus, "worker_cpus", 0.0, 1024.0, lo_open=True) or 1.0)
    gpus = float(check_float(worker_gpus, "worker_gpus", 0.0, 64.0) or 0.0)
    threads = int(check_int(threads, "threads", 1, 1024, optional=True) or max(1, int(cpus)))
    batch = int(check_int(batch, "batch", 1, 65536) or 64)
    write_batch = int(check_int(write_batch, "write_batch", 1, 1 << 20) or WRITE_BATCH)
    import_ray()  # before reading: a missing extra is said at once
    started = time.perf_counter()
    timings: dict[str, float] = {}
    raw: list[Any] | None = None
    if isinstance(collection, Collection):
        col, owned = collection, False
    else:
        folder = Path(collection)
        fields = CollectionConfig().text_fields
        # a new collection is created only once the input has been read whole (as `sleuth add`)
        raw = None if (folder / FILENAME).exists() else read_source(source, fields)
        col, owned = open_collection(folder, encoder=encoder), True
    try:
        if raw is None:
            raw = read_source(source, col.config.text_fields)
        timings["read"] = time.perf_counter() - started
        tick = time.perf_counter()
        todo = plan(col, raw, must_be_new=not upsert)
        timings["plan"] = time.perf_counter() - tick
        report = IngestReport(
            WriteResult(0, 0, 0, 0, 0),
            items=len(todo.items),
            cached=todo.cached,
            given=todo.given,
            workers=workers,
            timings=timings,
        )
        job = _Job(col, todo, report, upsert, write_batch, on_batch)
        with progress_bar("ingesting", len(todo.items), progress) as advance:
            job.advance = advance
            job.write_ready()  # what needs no encoding goes in first
            if todo.todo:
                shape = _Shape(workers, cpus, gpus, threads, batch)
                with connect(address, num_cpus=shape.local_cpus()) as cluster:
                    shape.check(cluster)
                    report.cluster = cluster.address
                    timings["cluster"] = cluster.started_s
                    job.encode(shape)
            job.flush()
        _warn_truncated(report, col)
        timings["total"] = time.perf_counter() - started
        return report
    finally:
        if owned:
            col.close()


@dataclass(frozen=True)
class _Shape:
    workers: int
    cpus: float
    gpus: float
    threads: int
    batch: int

    def local_cpus(self) -> int:
        """A local cluster's CPUs: the machine's, or as many as the workers ask for."""
        import os

        return max(os.cpu_count() or 1, int(-(-self.workers * self.cpus // 1)))

    def check(self, cluster: Cluster) -> None:
        """Workers a cluster could never place would wait forever: say so instead. A joined
        cluster may autoscale, so only one started here is held to what it has."""
        if not cluster.owned or cluster.address != "local":
            return
        if self.gpus and self.workers * self.gpus > cluster.gpus:
            raise InvalidInput(
                f"{self.workers} workers of {self.gpus:g} GPUs need "
                f"{self.workers * self.gpus:g}; the local Ray cluster has {cluster.gpus:g}",
                gpus=cluster.gpus,
            )


class _Job:
    """The driver's side: cache each returned batch, write items once their vectors are in."""

    def __init__(
        self,
        col: Collection,
        todo: Plan,
        report: IngestReport,
        upsert: bool,
        write_batch: int,
        on_batch: Callable[[IngestReport], None] | None,
    ) -> None:
        self.col, self.plan, self.report, self.on_batch = col, todo, report, on_batch
        self.write_batch = write_batch
        self.write = col.upsert if upsert else col.add
        self.advance: Callable[[int], None] = lambda n: None
        self.waiting: dict[str, list[int]] = {}  # hash -> positions of the items that need it
        for i, key in enumerate(todo.keys):
            if key is not None and key in todo.todo:
                self.waiting.setdefault(key, []).append(i)
        self.pending = [i for i in range(len(todo.items)) if todo.keys[i] not in self.waiting]
        self.write_s = 0.0

    def write_ready(self) -> None:
        """Write the items that need no encoding (own vectors, cached texts)."""
        size = self.write_batch
        while len(self.pending) >= size:
            self._commit(self.pending[:size])
            self.pending = self.pending[size:]

    def flush(self) -> None:
        if self.waiting:  # cannot happen unless a batch came back short
            raise SleuthError(
                f"{len(self.waiting)} texts came back from no worker; run the job again",
                missing=len(self.waiting),
            )
        if self.pending:
            self._commit(self.pending)
            self.pending = []
        self.report.timings["write"] = self.write_s

    def encode(self, shape: _Shape) -> None:
        ray = import_ray()
        import pyarrow as pa

        started = time.perf_counter()
        keys = list(self.plan.todo)
        table = pa.table({"key": keys, "text": [self.plan.todo[h] for h in keys]})
        # one block per task: Ray Data hands the pool one block at a time
        blocks = [table.slice(i, shape.batch) for i in range(0, len(keys), shape.batch)]
        encoder = self.col.encoder
        encoded = ray.data.from_arrow(blocks).map_batches(
            EncodeBatch,
            fn_constructor_args=(encoder.spec, encoder.id, shape.threads),
            batch_size=shape.batch,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=shape.workers),
            num_cpus=shape.cpus,
            num_gpus=shape.gpus or None,
        )
        timings = self.report.timings
        timings.setdefault("load", 0.0)
        timings.setdefault("busy", 0.0)
        try:
            for out in encoded.iter_batches(batch_size=None, batch_format="numpy"):
                timings.setdefault("first_batch", time.perf_counter() - started)
                self._cached(out)
        except SleuthError:
            raise
        except Exception as exc:
            raise _failed(exc, self.report) from exc
        timings["pipeline"] = time.perf_counter() - started

    def _cached(self, out: dict[str, Any]) -> None:
        """A batch came back: its vectors into the cache, then any full write batch."""
        report, timings = self.report, self.report.timings
        keys = [str(k) for k in out["key"]]
        tick = time.perf_counter()
        self.col.store.put_vectors(self.col.encoder.id, dict(zip(keys, out["vector"])))
        self.write_s += time.perf_counter() - tick
        report.encoded += len(keys)
        report.truncated += int(out["truncated"].sum())
        timings["load"] += float(out["load_s"].sum())
        timings["busy"] += float(out["busy_s"].sum())
        for pid in out["worker"].tolist():
            report.per_worker[pid] = report.per_worker.get(pid, 0) + 1
        for key in keys:
            self.pending.extend(self.waiting.pop(key, ()))
        self.write_ready()

    def _commit(self, positions: list[int]) -> None:
        tick = time.perf_counter()
        done = self.write([self.plan.items[i] for i in sorted(positions)], progress=False)
        self.write_s += time.perf_counter() - tick
        r = self.report.result
        self.report.result = WriteResult(
            r.added + done.added,
            r.updated + done.updated,
            r.unchanged + done.unchanged,
            r.deleted + done.deleted,
            done.seq,
        )
        self.report.batches += 1
        self.advance(len(positions))
        if self.on_batch is not None:
            self.on_batch(self.report)


def _failed(exc: Exception, report: IngestReport) -> SleuthError:
    """A Ray error as a ``SleuthError``: the user's own (a bad encoder on a node) as it was
    raised, any other with what the job had done, which a rerun keeps."""
    seen: Exception | None = exc
    while seen is not None:
        if isinstance(seen, SleuthError):
            return seen
        cause = getattr(seen, "cause", None) or seen.__cause__
        seen = cause if isinstance(cause, Exception) and cause is not seen else None
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if "No module named 'sleuth" in text or "creation task" in text:
        return SleuthError(
            f"a Ray worker could not start ({type(exc).__name__}: {first[:300]}); every node "
            "needs the same sleuth installed (pip install 'sleuth[ray]') and the encoder's "
            "model; nothing was encoded on the cluster",
            written=report.result.added + report.result.updated + report.result.unchanged,
        )
    return SleuthError(
        f"the Ray job failed ({type(exc).__name__}: {first[:300]}); "
        f"{report.result.added + report.result.updated + report.result.unchanged} items were "
        f"written and {report.encoded} vectors cached, which stay: run the job again to resume",
        written=report.result.added + report.result.updated + report.result.unchanged,
        encoded=report.encoded,
    )


def _warn_truncated(report: IngestReport, col: Collection) -> None:
    if report.truncated:
        warnings.warn(
            f"{report.truncated} of {report.encoded} texts were longer than the encoder's limit "
            f"of {col.encoder.max_tokens} tokens and were truncated to it for the dense vector "
            "(BM25 sees the whole text)",
            stacklevel=3,
        )
