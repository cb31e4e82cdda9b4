"""The peers' half of the scale benchmark: LanceDB (embedded), Chroma (embedded, persistent
client) and raw faiss on the catalog of ``_scale_data.py`` (same items, same vectors, same
queries and exact truth as sleuth's side, ``scale.py``).

The peers live in their own venv (``benchmarks/.cache/venvs/scale-peer``, created with pip on
first run; the script re-runs itself there). Each peer is measured in a fresh worker process,
so its RSS is its own; its database is rebuilt in ``benchmarks/.cache/scale/<n>/peers/<peer>``.
Measures, in this order:

- ingest: items/s from the cached files to the last write returning: Parquet read in batches
  of 10,000 (Chroma: its ``get_max_batch_size()`` if smaller), vectors sliced from the
  memory-mapped ``vectors.npy``, converted to what the API takes, written. One run per size.
  LanceDB: ``create_table`` from a stream of Arrow batches; Chroma: ``add`` per batch (it
  builds its HNSW as it goes); faiss: ``IndexHNSWFlat`` (M 32, efConstruction 40, inner
  product) ``add`` per batch, then ``write_index``. efConstruction is 40, not faiss's usual
  200, at every size: 200 takes over an hour at 1M items on two shared cores (40 took 31
  minutes), but at 1M that graph tops out at recall@10 0.86 (efSearch 256), so faiss is also
  measured as ``faiss_ivf``: ``IndexIVFFlat`` (inner product, round(sqrt(n)) lists trained on
  100 sampled vectors per list, ``add`` per batch), which reaches the recall at every size.
- a time cap on ingest (``--ingest-cap-s``, 40 minutes by default; Chroma's per-batch ``add``
  is the one that needs it at 1M): a peer still ingesting when it passes stops there, and its
  entry records the items written, the seconds and the rate so far (``ingest_capped``); its
  other measures are skipped (they would be of a partial collection).
- index build (LanceDB): IVF_PQ on the vectors (dot, LanceDB's default partitions and
  sub-vectors), FTS on ``text``, scalar indexes (``id`` BTREE, ``category`` BITMAP, ``price``
  BTREE, ``tags`` LABEL_LIST), each timed.
- RSS (VmRSS, and the peak VmHWM) of the worker after ingest and index build; disk: bytes of
  the database folder.
- open: 5 fresh processes, each timing from the open call (after the imports, timed apart) to
  the first dense query answered with default search parameters; median, and the RSS there.
  The page cache is warm (the database was just written).
- dense: recall@10 against the exact top-10 and single-caller latency over the 1,000 query
  vectors, for each point of a parameter sweep (LanceDB nprobes x refine_factor, Chroma and
  faiss efSearch); the fastest point (lowest p50) with recall@10 >= 0.95 is then timed again
  (p50, p95, recall).
- full text (LanceDB native FTS, BM25 over ``text``) with the 1,000 query texts, and hybrid
  (vector + text, LanceDB's default RRF reranker, the chosen dense parameters): p50 latency.
- filtered (the chosen dense parameters, prefiltering): for each kind of filter (category
  equality, price range, tag contained in ``tags``), 200 queries: p50 latency, mean hits
  returned of 10, recall@10 against the exact filtered top-10.
- upsert: 20 timed rounds (after 1 untimed) each writing 100 existing items with new vectors
  and prices, end to end (the call until it returns); then the first dense query for one of
  those new vectors: its latency and whether the item comes back first. faiss has no upsert.

Latencies are ``time.perf_counter`` around one call, including the conversion of the answer
to row ids. The machine is shared and noisy: figures of one run are indicative, ratios across
sizes are what matters. Writes ``results/scale_peer_<n>.json`` after each peer; a run with
``--peers`` naming some of them keeps the other peers' entries of that file (measured with the
same parameters), so one peer can be re-measured alone.

    python benchmarks/scale_peer.py --n 100000        # all three peers, ~15 min on 2 busy cores
    python benchmarks/scale_peer.py --n 10000 --peers lancedb,faiss
    nice python benchmarks/scale_peer.py --n 1000000   # about 1.5 h; Chroma's ingest is capped
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import _scale_data as scale_data
import numpy as np
from _common import CACHE_DIR, RESULTS_DIR, machine_info, print_table, summary_row, write_result

VENV = CACHE_DIR / "venvs" / "scale-peer"
SPECS = ["lancedb==0.40.0", "chromadb==1.5.9", "faiss-cpu==1.15.1", "pyarrow==26.0.1",
         "numpy==2.4.6"]
PEERS = ("lancedb", "chroma", "faiss", "faiss_ivf")
BATCH = 10_000
RECALL = 0.95
OPENS = 5
UPSERTS = 20
UPSERT_SIZE = 100
FAISS_M, FAISS_EF_CONSTRUCTION = 32, 40
IVF_TRAIN_PER_LIST = 100
DISTRIBUTIONS = {"chroma": "chromadb", "faiss": "faiss-cpu", "faiss_ivf": "faiss-cpu"}
INGEST_CAP_S = 2400.0
SWEEPS: dict[str, list[dict[str, int]]] = {
    # refine factors up to 100: at 1M items IVF_PQ's codes alone reach recall@10 ~0.4 and a
    # refine of 25 ~0.76 (LanceDB's default partitions and sub-vectors)
    "lancedb": [{"nprobes": p, "refine_factor": r} for p in (10, 20, 40, 80)
                for r in (5, 10, 25, 50, 100)],
    "chroma": [{"ef_search": ef} for ef in (10, 20, 40, 80, 160, 320)],
    "faiss": [{"ef_search": ef} for ef in (10, 16, 32, 64, 128, 256)],
    "faiss_ivf": [{"nprobe": p} for p in (1, 2, 4, 8, 16, 32, 64)],
}


class Capped(Exception):
    """Ingest passed the time cap after ``done`` items."""

    def __init__(self, done: int) -> None:
        super().__init__(f"ingest capped after {done:,} items")
        self.done = done


def _check_cap(started: float, cap_s: float, done: int, n: int) -> None:
    took = time.perf_counter() - started
    print(f"\r  ingested {done:,} / {n:,} items in {took:.0f} s", end="", flush=True)
    if took > cap_s and done < n:
        print(flush=True)
        raise Capped(done)


# -- the peers ------------------------------------------------------------------------------


class LanceDB:
    def __init__(self, db: Path) -> None:
        os.environ.setdefault("LANCEDB_LOG", "error")  # hybrid queries warn on every call
        import lancedb

        self.table = lancedb.connect(db).open_table("items") if (db / "items.lance").exists() \
            else None
        self.db = db
        self.params: dict[str, int] = {}

    def ingest(self, folder: Path, cap_s: float) -> dict[str, Any]:
        import lancedb
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.read_schema(folder / "items.parquet").append(
            pa.field("vector", pa.list_(pa.float32(), scale_data.DIM)))

        def batches():  # type: ignore[no-untyped-def]
            for batch, vec in scale_data.item_batches(folder, BATCH):
                yield batch.append_column("vector", _fixed(vec))

        reader = pa.RecordBatchReader.from_batches(schema, batches())
        self.table = lancedb.connect(self.db).create_table("items", data=reader)
        return {"batch": BATCH}

    def build(self) -> dict[str, float]:
        from lancedb.index import FTS, Bitmap, BTree, IvfPq, LabelList

        out = {}
        steps = {
            "vector_ivf_pq": ("vector", IvfPq(distance_type="dot")),
            "fts_text": ("text", FTS()),
            "scalar_id": ("id", BTree()),
            "scalar_category": ("category", Bitmap()),
            "scalar_price": ("price", BTree()),
            "scalar_tags": ("tags", LabelList()),
        }
        for name, (column, config) in steps.items():
            t = time.perf_counter()
            self.table.create_index(column, config=config)
            out[name] = time.perf_counter() - t
            print(f"  {name}: {out[name]:.1f} s", flush=True)
        return out

    def set(self, params: dict[str, int]) -> None:
        self.params = params

    def _vector(self, q: np.ndarray) -> Any:
        s = self.table.search(q, vector_column_name="vector").distance_type("dot")
        if self.params:
            s = s.nprobes(self.params["nprobes"]).refine_factor(self.params["refine_factor"])
        return s.limit(scale_data.K).select(["id", "_distance"])

    def dense(self, q: np.ndarray) -> list[int]:
        return _ids(self._vector(q).to_arrow())

    def filtered(self, q: np.ndarray, spec: dict[str, Any]) -> list[int]:
        return _ids(self._vector(q).where(_sql(spec), prefilter=True).to_arrow())

    def fts(self, text: str) -> list[int]:
        return _ids(self.table.search(text, query_type="fts").limit(scale_data.K)
                    .select(["id", "_score"]).to_arrow())

    def hybrid(self, q: np.ndarray, text: str) -> list[int]:
        s = (self.table.search(query_type="hybrid", vector_column_name="vector")
             .vector(q).text(text).distance_type("dot")
             .nprobes(self.params["nprobes"]).refine_factor(self.params["refine_factor"]))
        return _ids(s.limit(scale_data.K).select(["id"]).to_arrow())

    def upsert(self, items: Any) -> None:
        (self.table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all()
         .execute(items))


class Chroma:
    def __init__(self, db: Path) -> None:
        self.db = db
        self._connect()

    def _connect(self) -> None:
        import chromadb
        from chromadb.config import Settings

        self.client = chromadb.PersistentClient(
            path=str(self.db), settings=Settings(anonymized_telemetry=False))
        names = [c.name for c in self.client.list_collections()]
        self.col = self.client.get_collection("items", embedding_function=None) \
            if "items" in names else None

    def ingest(self, folder: Path, cap_s: float) -> dict[str, Any]:
        self.col = self.client.create_collection(
            "items", configuration={"hnsw": {"space": "ip"}}, embedding_function=None)
        size = min(BATCH, self.client.get_max_batch_size())
        started, done, n = time.perf_counter(), 0, scale_data.load_meta(folder)["n"]
        for batch, vec in scale_data.item_batches(folder, size):
            self.upsert(_chroma_items(batch, vec), add=True)
            done += batch.num_rows
            _check_cap(started, cap_s, done, n)
        print(flush=True)
        return {"batch": size, "max_batch_size": self.client.get_max_batch_size(),
                "configuration": self.col.configuration.get("hnsw")}

    def set(self, params: dict[str, int]) -> None:
        """A new ef_search reaches the index only when it is loaded again: modify, drop the
        client's cache, reconnect."""
        from chromadb.api.client import SharedSystemClient

        self.col.modify(configuration={"hnsw": {"ef_search": params["ef_search"]}})
        SharedSystemClient.clear_system_cache()
        self._connect()

    def dense(self, q: np.ndarray, where: dict[str, Any] | None = None) -> list[int]:
        res = self.col.query(query_embeddings=q[None], n_results=scale_data.K, where=where,
                             include=[])
        return [int(i) for i in res["ids"][0]]

    def filtered(self, q: np.ndarray, spec: dict[str, Any]) -> list[int]:
        return self.dense(q, _where(spec))

    def upsert(self, items: dict[str, Any], add: bool = False) -> None:
        (self.col.add if add else self.col.upsert)(**items)


class Faiss:
    def __init__(self, db: Path) -> None:
        import faiss

        self.faiss, self.path = faiss, db / "index.faiss"
        self.index = faiss.read_index(str(self.path)) if self.path.exists() else None

    def ingest(self, folder: Path, cap_s: float) -> dict[str, Any]:
        self.index = self.faiss.IndexHNSWFlat(scale_data.DIM, FAISS_M,
                                              self.faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = FAISS_EF_CONSTRUCTION
        vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        started = time.perf_counter()
        for start in range(0, len(vectors), BATCH):
            self.index.add(np.ascontiguousarray(vectors[start : start + BATCH]))
            _check_cap(started, cap_s, min(len(vectors), start + BATCH), len(vectors))
        print(flush=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.faiss.write_index(self.index, str(self.path))
        return {"batch": BATCH, "M": FAISS_M, "efConstruction": FAISS_EF_CONSTRUCTION}

    def set(self, params: dict[str, int]) -> None:
        self.index.hnsw.efSearch = params["ef_search"]

    def dense(self, q: np.ndarray) -> list[int]:
        return self.index.search(q[None], scale_data.K)[1][0].tolist()  # type: ignore[no-any-return]


class FaissIVF(Faiss):
    def ingest(self, folder: Path, cap_s: float) -> dict[str, Any]:
        vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        n, lists = len(vectors), ivf_lists(len(vectors))
        self.index = self.faiss.IndexIVFFlat(self.faiss.IndexFlatIP(scale_data.DIM),
                                             scale_data.DIM, lists,
                                             self.faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng([scale_data.SEED, 6])
        sample = np.sort(rng.choice(n, min(n, IVF_TRAIN_PER_LIST * lists), replace=False))
        t = time.perf_counter()
        self.index.train(np.ascontiguousarray(vectors[sample]))
        trained = time.perf_counter() - t
        print(f"  trained {lists:,} lists on {sample.size:,} vectors in {trained:.0f} s",
              flush=True)
        started = time.perf_counter()
        for start in range(0, n, BATCH):
            self.index.add(np.ascontiguousarray(vectors[start : start + BATCH]))
            _check_cap(started, cap_s, min(n, start + BATCH), n)
        print(flush=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.faiss.write_index(self.index, str(self.path))
        return {"batch": BATCH, "lists": lists, "train_rows": int(sample.size),
                "train_s": trained}

    def set(self, params: dict[str, int]) -> None:
        self.index.nprobe = params["nprobe"]


def ivf_lists(n: int) -> int:
    return max(1, round(n**0.5))


CLASSES = {"lancedb": LanceDB, "chroma": Chroma, "faiss": Faiss, "faiss_ivf": FaissIVF}


def _fixed(vec: np.ndarray) -> Any:
    import pyarrow as pa

    return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(vec).ravel()),
                                             vec.shape[1])


def _ids(table: Any) -> list[int]:
    return [int(i) for i in table.column("id").to_pylist()]


def _sql(spec: dict[str, Any]) -> str:
    if "category" in spec:
        return f"category = '{spec['category']}'"
    if "tag" in spec:
        return f"array_has_any(tags, ['{spec['tag']}'])"
    return f"price >= {spec['price_min']} AND price <= {spec['price_max']}"


def _where(spec: dict[str, Any]) -> dict[str, Any]:
    if "category" in spec:
        return {"category": spec["category"]}
    if "tag" in spec:
        return {"tags": {"$contains": spec["tag"]}}
    return {"$and": [{"price": {"$gte": spec["price_min"]}},
                     {"price": {"$lte": spec["price_max"]}}]}


def _chroma_items(batch: Any, vec: np.ndarray) -> dict[str, Any]:
    cols = batch.to_pydict()
    keys = ("title", "category", "price", "tags", "date")
    return {"ids": cols["id"], "embeddings": np.ascontiguousarray(vec),
            "documents": cols["text"],
            "metadatas": [dict(zip(keys, row)) for row in zip(*(cols[k] for k in keys))]}


# -- the worker: one peer, one process ------------------------------------------------------


def _latencies(fn: Any, args: list[tuple[Any, ...]]) -> tuple[list[float], list[Any]]:
    fn(*args[0])  # warm-up
    times, out = [], []
    for a in args:
        t = time.perf_counter()
        out.append(fn(*a))
        times.append(time.perf_counter() - t)
    return times, out


def _upsert_rounds(peer_name: str, peer: Any, folder: Path) -> dict[str, Any]:
    write_s, search_s, seen = [], [], []
    for r, (rows, part, new) in enumerate(scale_data.upserts(folder, UPSERTS + 1, UPSERT_SIZE)):
        payload = part.append_column("vector", _fixed(new)) if peer_name == "lancedb" \
            else _chroma_items(part, new)
        t = time.perf_counter()
        peer.upsert(payload)
        took = time.perf_counter() - t
        t = time.perf_counter()
        top = peer.dense(new[0])
        first = time.perf_counter() - t
        if r:  # round 0 is the untimed warm-up
            write_s.append(took)
            search_s.append(first)
            seen.append(bool(top) and top[0] == int(rows[0]))
    return {"upsert": scale_data.latency(write_s),
            "first_search_after": scale_data.latency(search_s),
            "first_search_sees_write": float(np.mean(seen))}


def worker(peer_name: str, n: int, out: Path, cap_s: float) -> None:
    folder = scale_data.ensure(n)
    meta = scale_data.load_meta(folder)
    db = folder / "peers" / peer_name
    shutil.rmtree(db, ignore_errors=True)
    db.mkdir(parents=True)
    queries = np.load(folder / "query_vectors.npy")
    truth = np.load(folder / "truth.npy")
    res: dict[str, Any] = {}

    peer = CLASSES[peer_name](db)
    t = time.perf_counter()
    try:
        res["ingest_details"] = peer.ingest(folder, cap_s)
    except Capped as capped:
        took = time.perf_counter() - t
        res["ingest_capped"] = {"cap_s": cap_s, "items_done": capped.done, "seconds": took,
                                "items_per_s": capped.done / took}
        print(f"  ingest capped: {capped.done:,} items in {took:.0f} s "
              f"({capped.done / took:,.0f} items/s); other measures skipped", flush=True)
        _write(out, res)
        return
    res["ingest_s"] = time.perf_counter() - t
    res["ingest_items_per_s"] = n / res["ingest_s"]
    print(f"  ingest: {res['ingest_s']:.1f} s, {res['ingest_items_per_s']:,.0f} items/s",
          flush=True)
    if peer_name == "lancedb":
        res["index_build_s"] = peer.build()
    res["rss_after_ingest_mb"] = scale_data.rss_mb()
    res["disk_bytes"] = scale_data.disk_bytes(db)

    opens = [json.loads(subprocess.run(
        [sys.executable, __file__, "--open", peer_name, "--n", str(n)],
        check=True, capture_output=True, text=True).stdout) for _ in range(OPENS)]
    res["open"] = {"runs": opens, "open_s": statistics.median(o["open_s"] for o in opens),
                   "import_s": statistics.median(o["import_s"] for o in opens),
                   "rss_mb": statistics.median(o["rss_mb"] for o in opens)}
    print(f"  open: {res['open']['open_s']:.3f} s to first answer", flush=True)

    sweep = []
    for params in SWEEPS[peer_name]:
        peer.set(params)
        times, found = _latencies(peer.dense, [(q,) for q in queries])
        sweep.append({**params, "recall@10": scale_data.recall(found, truth),
                      "p50_ms": statistics.median(times) * 1000})
        print(f"  dense {params}: recall@10 {sweep[-1]['recall@10']:.3f}, "
              f"p50 {sweep[-1]['p50_ms']:.2f} ms", flush=True)
    ok = [s for s in sweep if s["recall@10"] >= RECALL]
    best = min(ok, key=lambda s: s["p50_ms"]) if ok else max(sweep, key=lambda s: s["recall@10"])
    chosen = {k: best[k] for k in SWEEPS[peer_name][0]}
    peer.set(chosen)
    times, found = _latencies(peer.dense, [(q,) for q in queries])
    res["dense"] = {"sweep": sweep, "params": chosen, "recall@10": scale_data.recall(found, truth),
                    **scale_data.latency(times)}

    texts = meta["query_texts"]
    if peer_name == "lancedb":
        times, found = _latencies(peer.fts, [(t,) for t in texts])
        res["fts"] = {**scale_data.latency(times),
                      "mean_hits": float(np.mean([len(f) for f in found]))}
        times, found = _latencies(peer.hybrid, list(zip(queries, texts)))
        res["hybrid"] = {**scale_data.latency(times),
                         "mean_hits": float(np.mean([len(f) for f in found]))}

    if not peer_name.startswith("faiss"):
        res["filtered"] = {}
        for kind in scale_data.FILTER_KINDS:
            specs = meta["filters"][kind]
            times, found = _latencies(peer.filtered, list(zip(queries, specs)))
            res["filtered"][kind] = {
                **scale_data.latency(times), "mean_hits": float(np.mean([len(f) for f in found])),
                "recall@10": scale_data.recall(found, np.load(folder / f"truth_{kind}.npy"))}
            print(f"  filtered {kind}: p50 {res['filtered'][kind]['p50_ms']:.2f} ms, "
                  f"{res['filtered'][kind]['mean_hits']:.1f} hits", flush=True)
        res.update(_upsert_rounds(peer_name, peer, folder))
        print(f"  upsert of {UPSERT_SIZE}: p50 {res['upsert']['p50_ms']:.1f} ms", flush=True)
    _write(out, res)


def _write(out: Path, res: dict[str, Any]) -> None:
    """The worker's figures, with when they were measured and the load then."""
    res["measured"] = {"date": _date(time.time()),
                       "load_avg": [round(x, 2) for x in os.getloadavg()]}
    out.write_text(json.dumps(res))


def open_once(peer_name: str, n: int) -> None:
    """One fresh process: import, open, answer the first query; prints JSON."""
    folder = scale_data.CACHE / str(n)
    q = np.load(folder / "query_vectors.npy", mmap_mode="r")[0].copy()
    t = time.perf_counter()
    __import__({"lancedb": "lancedb", "chroma": "chromadb"}.get(peer_name, "faiss"))
    imported = time.perf_counter()
    peer = CLASSES[peer_name](folder / "peers" / peer_name)
    peer.dense(q)
    done = time.perf_counter()
    print(json.dumps({"import_s": imported - t, "open_s": done - imported,
                      "rss_mb": scale_data.rss_mb()["VmRSS"]}))  # while the peer is still alive


# -- the driver -----------------------------------------------------------------------------


def ensure_venv() -> None:
    """Re-run this script in the peers' venv (created first if absent)."""
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python.exists():
        print(f"creating {VENV} with {', '.join(SPECS)}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *SPECS], check=True)
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def _row(label: str, per_peer: dict[str, Any], get: Any) -> list[Any]:
    cells = []
    for r in per_peer.values():
        try:
            cells.append(get(r))
        except KeyError:
            cells.append(None)
    return [label, *cells]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="items")
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--worker", choices=PEERS, help=argparse.SUPPRESS)
    parser.add_argument("--open", choices=PEERS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: write the results from the peers' last worker "
                        "files (benchmarks/.cache/scale/<n>/peers/<peer>.json), keeping the "
                        "results file's entries of the others")
    parser.add_argument("--ingest-cap-s", type=float, default=INGEST_CAP_S,
                        help="stop a peer's ingest after this many seconds (default %(default)s)")
    args = parser.parse_args()
    if args.open:
        open_once(args.open, args.n)
        return
    ensure_venv()
    if args.worker:
        worker(args.worker, args.n, args.out, args.ingest_cap_s)
        return
    peers = [p for p in args.peers.split(",") if p]
    if unknown := set(peers) - set(PEERS):
        parser.error(f"unknown peers {sorted(unknown)}; known: {', '.join(PEERS)}")
    machine, started = machine_info(), time.perf_counter()
    folder = scale_data.ensure(args.n)
    params = _parameters(args.n, args.ingest_cap_s)
    if args.report_only:  # the peers measured since the results file was written
        peers = [p for p in peers if (folder / "peers" / f"{p}.json").exists()]
    per_peer = _kept(args.n, params, peers)
    for name in peers:
        out = folder / "peers" / f"{name}.json"
        if not args.report_only:
            print(f"\n{name}, {args.n:,} items", flush=True)
            subprocess.run([sys.executable, __file__, "--worker", name, "--n", str(args.n),
                            "--out", str(out), "--ingest-cap-s", str(args.ingest_cap_s)],
                           check=True)
        per_peer[name] = {"measured": {"date": _date(out.stat().st_mtime), "load_avg": None},
                          **json.loads(out.read_text())}
        per_peer = {p: per_peer[p] for p in PEERS if p in per_peer}
        if not args.report_only:  # written after each peer: a stopped run keeps those done
            _report(args.n, params, per_peer, machine, started)
    if args.report_only:
        _report(args.n, params, per_peer, machine, started)


def _date(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _parameters(n: int, cap_s: float) -> dict[str, Any]:
    return {"n": n, "dim": scale_data.DIM, "k": scale_data.K,
            "data": scale_data.__doc__.split("\n\n")[0], "data_format": scale_data.FORMAT,
            "batch": BATCH, "recall_target": RECALL, "opens": OPENS,
            "upsert_rounds": UPSERTS, "upsert_size": UPSERT_SIZE, "sweeps": SWEEPS,
            "faiss": {"M": FAISS_M, "efConstruction": FAISS_EF_CONSTRUCTION},
            "faiss_ivf": {"lists": ivf_lists(n), "train_per_list": IVF_TRAIN_PER_LIST},
            "ingest_cap_s": cap_s}


def _kept(n: int, params: dict[str, Any], peers: list[str]) -> dict[str, Any]:
    """The entries of the peers not re-run now, from the last result file of this size when it
    was measured with the same parameters (a peer's sweep and faiss's graph concern that peer
    alone; each entry says whether it met the ingest cap)."""
    path = RESULTS_DIR / f"scale_peer_{n}.json"
    if not path.exists():
        return {}
    old = json.loads(path.read_text())
    own = ("peers", "faiss", "faiss_ivf", "ingest_cap_s", "sweeps")
    same = {k: v for k, v in old["parameters"].items() if k not in own} == \
        {k: v for k, v in json.loads(json.dumps(params)).items() if k not in own}
    if not same:
        print(f"not keeping {path.name}'s other peers: measured with other parameters")
    kept = {p: r for p, r in old["results"]["peers"].items()
            if p not in peers and same and old["parameters"]["sweeps"].get(p) == SWEEPS[p]
            and (p not in own or old["parameters"].get(p) == params[p])}
    if kept:
        print(f"keeping the entries of {', '.join(kept)} from {path.name}")
    return kept


def _report(n: int, params: dict[str, Any], per_peer: dict[str, Any], machine: dict[str, Any],
            started: float) -> None:
    mb = 2**20
    rows = [
        _row("ingest items/s", per_peer, lambda r: r["ingest_items_per_s"]),
        _row("ingest capped: items/s until the cap", per_peer,
             lambda r: r["ingest_capped"]["items_per_s"]),
        _row("ingest capped: items written", per_peer,
             lambda r: r["ingest_capped"]["items_done"]),
        _row("index build s (LanceDB: all indexes)", per_peer,
             lambda r: sum(r["index_build_s"].values())),
        _row("RSS after ingest MB", per_peer, lambda r: r["rss_after_ingest_mb"]["VmRSS"]),
        _row("disk MB", per_peer, lambda r: r["disk_bytes"] / mb),
        _row("open to first answer s", per_peer, lambda r: r["open"]["open_s"]),
        _row("RSS after open + 1 query MB", per_peer, lambda r: r["open"]["rss_mb"]),
        _row("dense p50 ms", per_peer, lambda r: r["dense"]["p50_ms"]),
        _row("dense recall@10", per_peer, lambda r: r["dense"]["recall@10"]),
        _row("dense params", per_peer, lambda r: json.dumps(r["dense"]["params"])),
        _row("full text p50 ms", per_peer, lambda r: r["fts"]["p50_ms"]),
        _row("hybrid p50 ms", per_peer, lambda r: r["hybrid"]["p50_ms"]),
        *[row for kind in scale_data.FILTER_KINDS for row in (
            _row(f"filter {kind} p50 ms", per_peer,
                 lambda r, k=kind: r["filtered"][k]["p50_ms"]),
            _row(f"filter {kind} hits of 10", per_peer,
                 lambda r, k=kind: r["filtered"][k]["mean_hits"]),
            _row(f"filter {kind} recall@10", per_peer,
                 lambda r, k=kind: r["filtered"][k]["recall@10"]))],
        _row(f"upsert of {UPSERT_SIZE} p50 ms", per_peer, lambda r: r["upsert"]["p50_ms"]),
        _row("first search after write ms", per_peer,
             lambda r: r["first_search_after"]["p50_ms"]),
        _row("first search sees the write", per_peer,
             lambda r: r["first_search_sees_write"]),
    ]
    rows = [r for r in rows if any(c is not None for c in r[1:])]
    print_table(f"scale peers, {n:,} items x {scale_data.DIM} (p50 of single calls)",
                ["measure", *per_peer], rows)
    units = {"items/s": "items/s", " ms": "ms", " s": "s"}
    summary = []
    for label, *cells in rows:
        unit = next((u for k, u in units.items() if k in label), "")
        for name, value in zip(per_peer, cells):
            if isinstance(value, float):
                summary.append(summary_row(f"{name}: {label}", None, value, unit=unit,
                                           higher_is_better="items/s" in label
                                           or "recall" in label or "hits" in label))
    versions = {"python": sys.version.split()[0], **{
        p: metadata.version(p) for p in ("lancedb", "chromadb", "faiss-cpu", "pyarrow", "numpy")}}
    write_result(
        f"scale_peer_{n}",
        peer=", ".join(f"{p} {versions[DISTRIBUTIONS.get(p, p)]}"
                       for p in per_peer),
        parameters={**params, "peers": list(per_peer)},
        results={"peer_versions": versions, "peers": per_peer},
        summary=summary,
        notes=["One ingest per size (a million-item ingest is not repeated); latencies are "
               "p50 over single calls (1,000 dense, 200 per filter kind, 20 upserts).",
               "Open runs on a warm page cache.",
               "Chroma has no ranked full-text search in its embedded client (only "
               "where_document substring filters); faiss has no filters, ids or upserts.",
               "Each peer's entry has the date and load average when it finished "
               "(``measured``); the file's duration is of the last run only."],
        started=started,
        machine=machine,
    )


if __name__ == "__main__":
    main()
