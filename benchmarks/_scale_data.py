"""The synthetic catalog of the scale benchmark, shared by sleuth's side (``scale.py``) and the
peers' side (``scale_peer.py``): generated once per size into ``benchmarks/.cache/scale/<n>/``,
deterministically (seed 0, in blocks of 10,000 items, so the first 10,000 items of every size
are the same items).

Items (``items.parquet``, one row group per block; row ``i`` has id ``str(i)``):

- ``title``: 3-6 words, ``text``: 40 words. Words come from a 20,000-word vocabulary of made-up
  six-letter words, drawn with Zipf weights 1/rank; titles skip the 100 most frequent words.
- ``category``: ``cat00``..``cat99``, uniform. ``price``: uniform in [1, 1000), in cents.
- ``tags``: two distinct of ``tag0000``..``tag0999``, Zipf weights 1/rank (``tag0000`` is on
  about 26% of items, ``tag0027`` on about 1%). ``date``: ISO date, uniform over 2015-2024.

Vectors (``vectors.npy``, float32 ``[n, 384]``, unit norm, memory-mappable): each item is one
of 1,000 Gaussian clusters: ``normalize(center + N(0, 1/384))`` with unit-norm random centers
(item-center cosine about 0.7, two items of a cluster about 0.5, of different clusters about 0).

Queries (``query_vectors.npy``, ``meta.json``):

- 1,000 query vectors: ``normalize(v + N(0, 0.25/384))`` for 1,000 distinct random items ``v``;
  ``meta["query_texts"]``: 1,000 texts of 2-4 words drawn like titles (paired with the
  vectors by position for hybrid search).
- ``meta["filters"]``: for each kind, 200 filters paired with the first 200 query vectors,
  each passing about 1% of the items: ``category`` (``{"category": "cat07"}``: equality),
  ``price`` (``{"price_min": a, "price_max": a + 9.99}``: ``a <= price <= a + 9.99``), ``tag``
  (``{"tag": "tag0027"}``: the item's tags contain it; drawn from the tags on 0.8-1.25% of the
  items). ``meta["filter_pass"][kind]`` counts the items each one passes.

Ground truth (exact inner product, numpy, chunked; rows of the item table, best first):
``truth.npy`` int64 ``[1000, 10]`` for the query vectors, ``truth_<kind>.npy`` int64
``[200, 10]`` among the items each filter passes (-1 where fewer than 10 pass).

    python benchmarks/_scale_data.py --n 100000     # generate (needs pyarrow), ~1 min

Importing this module needs only numpy; writing and reading the Parquet file needs pyarrow.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache" / "scale"
FORMAT = 1
SEED = 0
BLOCK = 10_000
DIM = 384
VOCAB = 20_000
TITLE_SKIP = 100
TEXT_WORDS = 40
N_CATEGORIES = 100
N_TAGS = 1_000
N_CLUSTERS = 1_000
ITEM_SIGMA = 1.0 / np.sqrt(DIM)
QUERY_SIGMA = 0.5 / np.sqrt(DIM)
N_QUERIES = 1_000
N_FILTERED = 200
K = 10
FILTER_KINDS = ("category", "price", "tag")
TAG_SHARE = (0.008, 0.0125)
FIRST_DAY = np.datetime64("2015-01-01")
N_DAYS = 3_653  # through 2024-12-31

_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def vocabulary() -> np.ndarray:
    """The 20,000 words, most frequent first: three syllables each, all distinct."""
    s = len(_SYLLABLES)
    idx = (np.arange(VOCAB) * 7919 + 12345) % s**3  # 7919 is prime to 70**3: a permutation
    return np.array(
        [_SYLLABLES[i // s**2] + _SYLLABLES[i // s % s] + _SYLLABLES[i % s] for i in idx]
    )


def _zipf_cdf(n: int, skip: int = 0) -> np.ndarray:
    w = 1.0 / np.arange(1 + skip, n + 1)
    return np.cumsum(w) / w.sum()


def _draw(rng: np.random.Generator, cdf: np.ndarray, shape: Any) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.random(shape)), cdf.size - 1)


def _normalize(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _phrases(rng: np.random.Generator, words: np.ndarray, count: int, lo: int, hi: int) -> list:
    """``count`` strings of ``lo``..``hi`` words drawn like titles."""
    lengths = rng.integers(lo, hi + 1, count)
    picks = words[TITLE_SKIP + _draw(rng, _zipf_cdf(VOCAB, TITLE_SKIP), (count, hi))]
    return [" ".join(row[:m]) for row, m in zip(picks, lengths)]


def centers() -> np.ndarray:
    return _normalize(np.random.default_rng([SEED, 1]).normal(size=(N_CLUSTERS, DIM)))


def block(b: int, words: np.ndarray, cents: np.ndarray) -> dict[str, Any]:
    """Items ``b * BLOCK`` .. ``(b + 1) * BLOCK - 1`` as column arrays (plus the tag and
    category codes), and their vectors."""
    rng = np.random.default_rng([SEED, 2, b])
    vectors = _normalize(
        cents[rng.integers(0, N_CLUSTERS, BLOCK)] + rng.normal(0, ITEM_SIGMA, (BLOCK, DIM))
    )
    rng = np.random.default_rng([SEED, 3, b])
    text = words[_draw(rng, _zipf_cdf(VOCAB), (BLOCK, TEXT_WORDS))]
    tag_cdf = _zipf_cdf(N_TAGS)
    tags = _draw(rng, tag_cdf, (BLOCK, 2))
    while (same := tags[:, 0] == tags[:, 1]).any():
        tags[same, 1] = _draw(rng, tag_cdf, int(same.sum()))
    category = rng.integers(0, N_CATEGORIES, BLOCK)
    return {
        "id": [str(i) for i in range(b * BLOCK, (b + 1) * BLOCK)],
        "title": _phrases(rng, words, BLOCK, 3, 6),
        "text": [" ".join(row) for row in text],
        "category": [f"cat{c:02d}" for c in category],
        "price": np.round(rng.uniform(1, 1000, BLOCK), 2),
        "tags": [[f"tag{t:04d}" for t in row] for row in tags],
        "date": (FIRST_DAY + rng.integers(0, N_DAYS, BLOCK)).astype(str).tolist(),
        "category_code": category,
        "tag_codes": tags,
        "vectors": vectors,
    }


def top_k(queries: np.ndarray, vectors: np.ndarray, rows: np.ndarray | None = None,
          chunk: int = 20_000) -> np.ndarray:
    """Exact top-``K`` rows by inner product for each query (over ``rows`` when given), best
    first, -1 where fewer than ``K`` exist."""
    rows = np.arange(len(vectors)) if rows is None else rows
    best_s = np.full((len(queries), K), -np.inf, np.float32)
    best_i = np.full((len(queries), K), -1, np.int64)
    for start in range(0, rows.size, chunk):
        part = rows[start : start + chunk]
        s = queries @ vectors[part].T
        keep = np.argpartition(-s, min(K, part.size) - 1, axis=1)[:, :K]
        s = np.concatenate([best_s, np.take_along_axis(s, keep, 1)], axis=1)
        i = np.concatenate([best_i, part[keep]], axis=1)
        keep = np.argpartition(-s, K - 1, axis=1)[:, :K]
        best_s, best_i = np.take_along_axis(s, keep, 1), np.take_along_axis(i, keep, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.where(np.isinf(np.take_along_axis(best_s, order, 1)), -1,
                    np.take_along_axis(best_i, order, 1))


def _queries(n: int, folder: Path, words: np.ndarray, category: np.ndarray, price: np.ndarray,
             tags: np.ndarray) -> dict[str, Any]:
    """Query vectors, texts and filters, and the exact truth for each, written into ``folder``."""
    vectors = np.load(folder / "vectors.npy", mmap_mode="r")
    rng = np.random.default_rng([SEED, 4])
    source = np.sort(rng.choice(n, N_QUERIES, replace=False))
    queries = _normalize(vectors[source] + rng.normal(0, QUERY_SIGMA, (N_QUERIES, DIM)))
    np.save(folder / "query_vectors.npy", queries)
    np.save(folder / "truth.npy", top_k(queries, vectors))

    share = np.bincount(tags.ravel(), minlength=N_TAGS) / n
    eligible = np.flatnonzero((share >= TAG_SHARE[0]) & (share <= TAG_SHARE[1]))
    lows = np.round(rng.uniform(1, 990, N_FILTERED), 2)
    filters: dict[str, list[dict[str, Any]]] = {
        "category": [{"category": f"cat{c:02d}"}
                     for c in rng.integers(0, N_CATEGORIES, N_FILTERED)],
        "price": [{"price_min": float(a), "price_max": round(float(a) + 9.99, 2)}
                  for a in lows],
        "tag": [{"tag": f"tag{t:04d}"} for t in rng.choice(eligible, N_FILTERED)],
    }
    passing: dict[str, list[int]] = {}
    for kind, specs in filters.items():
        truth = np.empty((N_FILTERED, K), np.int64)
        passing[kind] = []
        for j, spec in enumerate(specs):
            rows = np.flatnonzero(mask(spec, category, price, tags))
            passing[kind].append(int(rows.size))
            truth[j] = top_k(queries[j : j + 1], vectors, rows)[0]
        np.save(folder / f"truth_{kind}.npy", truth)
    return {
        "query_source_rows": source.tolist(),
        "query_texts": _phrases(rng, words, N_QUERIES, 2, 4),
        "filters": filters,
        "filter_pass": passing,
    }


def mask(spec: dict[str, Any], category: np.ndarray, price: np.ndarray,
         tags: np.ndarray) -> np.ndarray:
    """Which items a filter passes, from the category codes, prices and tag codes."""
    if "category" in spec:
        return category == int(spec["category"][3:])
    if "tag" in spec:
        return (tags == int(spec["tag"][3:])).any(axis=1)
    return (price >= spec["price_min"]) & (price <= spec["price_max"])


def generate(n: int, folder: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = time.perf_counter()
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    words, cents = vocabulary(), centers()
    vectors = np.lib.format.open_memmap(tmp / "vectors.npy", "w+", np.float32, (n, DIM))
    category = np.empty(n, np.int16)
    price = np.empty(n)
    tags = np.empty((n, 2), np.int16)
    schema = pa.schema([("id", pa.string()), ("title", pa.string()), ("text", pa.string()),
                        ("category", pa.string()), ("price", pa.float64()),
                        ("tags", pa.list_(pa.string())), ("date", pa.string())])
    with pq.ParquetWriter(tmp / "items.parquet", schema) as writer:
        for b in range(-(-n // BLOCK)):
            lo, hi = b * BLOCK, min(n, (b + 1) * BLOCK)
            cols = block(b, words, cents)
            vectors[lo:hi] = cols["vectors"][: hi - lo]
            category[lo:hi] = cols["category_code"][: hi - lo]
            price[lo:hi] = cols["price"][: hi - lo]
            tags[lo:hi] = cols["tag_codes"][: hi - lo]
            writer.write_table(pa.table({f: cols[f][: hi - lo] for f in schema.names}, schema))
            print(f"\r  generated {hi:,} / {n:,} items", end="", flush=True)
    vectors.flush()
    del vectors
    print(f" in {time.perf_counter() - t:.0f} s; exact top-{K} for the queries")
    meta = {"format": FORMAT, "n": n, "dim": DIM, "seed": SEED, "k": K,
            **_queries(n, tmp, words, category, price, tags)}
    meta["generate_s"] = round(time.perf_counter() - t, 1)
    (tmp / "meta.json").write_text(json.dumps(meta))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)  # an interrupted run leaves only the .tmp folder
    print(f"  wrote {folder} in {meta['generate_s']} s")


def ensure(n: int) -> Path:
    """The folder of the ``n``-item catalog, generated first if absent or of an older format."""
    folder = CACHE / str(n)
    meta = folder / "meta.json"
    if not meta.exists() or json.loads(meta.read_text()).get("format") != FORMAT:
        print(f"generating the {n:,}-item scale catalog into {folder}")
        generate(n, folder)
    return folder


def load_meta(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "meta.json").read_text())  # type: ignore[no-any-return]


def item_batches(folder: Path, size: int) -> Iterator[tuple[Any, np.ndarray]]:
    """``(pyarrow.RecordBatch, float32[len, 384])`` pairs of ``size`` items, in row order: the
    Parquet rows and their vectors (a slice of the memory-mapped ``vectors.npy``)."""
    import pyarrow.parquet as pq

    vectors = np.load(folder / "vectors.npy", mmap_mode="r")
    start = 0
    for batch in pq.ParquetFile(folder / "items.parquet").iter_batches(batch_size=size):
        yield batch, vectors[start : start + batch.num_rows]
        start += batch.num_rows


# -- what both sides measure alike ------------------------------------------------------------


def upserts(folder: Path, rounds: int, size: int) -> Iterator[tuple[np.ndarray, Any, np.ndarray]]:
    """The upsert phase's batches, the same for sleuth and the peers: ``(rows, items, vectors)``
    of ``size`` distinct existing items (ids ``str(row)``) with new prices, as a pyarrow table,
    and new vectors near their old ones (``normalize(v + N(0, 0.25/384))``)."""
    import pyarrow.parquet as pq

    items = pq.read_table(folder / "items.parquet")
    vectors = np.load(folder / "vectors.npy", mmap_mode="r")
    rng = np.random.default_rng([SEED, 5])
    for _ in range(rounds):
        rows = np.sort(rng.choice(len(vectors), size, replace=False))
        new = _normalize(vectors[rows] + rng.normal(0, QUERY_SIGMA, (size, DIM)))
        part = items.take(rows)
        part = part.set_column(part.schema.get_field_index("price"), "price",
                               [np.round(rng.uniform(1, 1000, size), 2)])
        yield rows, part, new


def rss_mb() -> dict[str, float]:
    """This process's resident memory now (VmRSS) and at its peak (VmHWM), in MiB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def latency(seconds: list[float]) -> dict[str, Any]:
    """p50 and p95 in ms of single calls, and every run."""
    ms = [s * 1000 for s in seconds]
    return {"p50_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)),
            "runs_ms": [round(x, 4) for x in ms]}


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    """Mean share of each query's exact top-``K`` found (-1 pads a truth of fewer items)."""
    return float(np.mean([len(set(f) & set(t[t >= 0].tolist())) / max(1, int((t >= 0).sum()))
                          for f, t in zip(found, truth, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, help="items (the catalog is generated once per size)")
    args = parser.parse_args()
    if args.n is None:
        print("nothing to do: pass --n to generate a catalog (scale.py and scale_peer.py "
              "generate theirs on first use)")
        return
    ensure(args.n)


if __name__ == "__main__":
    main()
