"""Cross-encoder rerank: each query's top ``depth`` candidates scored by a sentence-transformers
``CrossEncoder`` (query and item text read together), its score blended with the score they
came with (fused, or the learned ranker's) or replacing it.

``rerank="cross-encoder:PATH"`` names any local CrossEncoder folder (one relevance logit per
pair); ``rerank="trained"`` the collection's own (``Collection.train_reranker``,
``sleuth.rank.cross_saved``), whose manifest holds the depth and blend chosen on its held-out
training queries. The blend is ``fuse_lists`` (z-scores) with weights ``1 - weight`` for the
candidates' score and ``weight`` for the cross-encoder's; ``weight`` 1 serves the
cross-encoder's own order and scores.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sleuth.checks import is_int
from sleuth.errors import InvalidInput
from sleuth.fuse import fuse_lists
from sleuth.rank.base import Ranker, Ranking, Sources
from sleuth.timing import ms_since as _ms

if TYPE_CHECKING:
    from sleuth.retrieve.base import QueryBatch, Ranked

__all__ = [
    "DEFAULT_DEPTH",
    "DEFAULT_WEIGHT",
    "CrossModel",
    "CrossStage",
    "RerankConfig",
    "check_rerank",
    "load_cross",
    "offline",
    "rerank_list",
]

# What SciFact's held-out train queries chose for its trained reranker (depth 20 of 10/20,
# weight 0.25 of 0.25-1; benchmarks/rerank.py): the blend for a folder named by path. A trained
# reranker's manifest holds what its own held-out queries chose.
DEFAULT_DEPTH = 20
DEFAULT_WEIGHT = 0.25
MAX_RERANK_DEPTH = 1_000  # pairs per query a request may ask the model to read
BATCH = 32  # pairs per model pass
TRAINED = "trained"
PREFIX = "cross-encoder:"


@dataclass(frozen=True, kw_only=True)
class RerankConfig:
    """A request's cross-encoder stage: ``model`` ("trained" or "cross-encoder:PATH"),
    ``depth`` (candidates scored per query; None: the model's default) and ``weight`` (the
    cross-encoder's share of the blend, 0..1; 1: its score replaces the candidates'; None:
    the model's default)."""

    model: str
    depth: int | None = None
    weight: float | None = None


def check_rerank(value: Any) -> RerankConfig | None:
    """``rerank`` as given to ``search``: None, a model string or a ``RerankConfig``/mapping
    (``model``, ``depth``, ``weight``)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = RerankConfig(model=value)
    elif isinstance(value, Mapping):
        unknown = sorted(set(value) - {"model", "depth", "weight"})
        if unknown or "model" not in value:
            raise InvalidInput(
                f"rerank as a mapping takes model (required), depth and weight; got "
                f"{sorted(value)!r:.120}",
                field="rerank",
            )
        value = RerankConfig(**value)
    if not isinstance(value, RerankConfig):
        raise InvalidInput(
            f'rerank must be "trained", "cross-encoder:PATH" or a RerankConfig, got {value!r:.80}',
            field="rerank",
        )
    model = value.model
    if not isinstance(model, str) or not (model == TRAINED or model.startswith(PREFIX)):
        raise InvalidInput(
            f'rerank must be "trained" (the collection\'s reranker) or "cross-encoder:PATH" '
            f"(a local sentence-transformers CrossEncoder folder), got {model!r:.120}",
            field="rerank",
        )
    if model.startswith(PREFIX) and not model[len(PREFIX) :].strip():
        raise InvalidInput('rerank "cross-encoder:PATH" needs a folder path', field="rerank")
    depth = value.depth
    if depth is not None and (not is_int(depth) or not 1 <= depth <= MAX_RERANK_DEPTH):
        raise InvalidInput(
            f"rerank depth must be an integer from 1 to {MAX_RERANK_DEPTH}, got {depth!r}",
            field="rerank.depth",
        )
    weight = value.weight
    if weight is not None and (
        isinstance(weight, bool)
        or not isinstance(weight, int | float)
        or not 0.0 <= float(weight) <= 1.0
    ):
        raise InvalidInput(
            f"rerank weight must be a number from 0 to 1, got {weight!r}", field="rerank.weight"
        )
    return value


class CrossModel:
    """A loaded CrossEncoder: ``score(pairs) -> float32[n]``, its relevance logit of each
    (query, text) pair, in batches of ``BATCH`` sorted by length (less padding)."""

    def __init__(self, model: Any, path: Path) -> None:
        self.model, self.path = model, path
        self._lock = threading.Lock()  # a torch module is not safe for concurrent passes

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        out = np.zeros(len(pairs), np.float32)
        if not pairs:
            return out
        import torch

        order = np.argsort([len(q) + len(t) for q, t in pairs], kind="stable")
        net, tokenizer = self.model.model, self.model.tokenizer
        with self._lock, torch.inference_mode():
            net.eval()
            for start in range(0, len(order), BATCH):
                rows = order[start : start + BATCH]
                encoded = tokenizer(
                    [pairs[i][0] for i in rows],
                    [pairs[i][1] for i in rows],
                    padding=True,
                    truncation="longest_first",
                    max_length=self.model.max_seq_length,
                    return_tensors="pt",
                )
                logits = net(**encoded).logits
                out[rows] = logits[:, 0].float().numpy()
        return out


_LOADED: dict[tuple[str, int], CrossModel] = {}
_LOADING = threading.Lock()
_KEEP = 4  # models kept loaded, by folder and change time


def check_folder(path: Path) -> None:
    """A CrossEncoder folder: a transformers config of a sequence classifier with one label."""
    where = f"the cross-encoder folder {str(path)!r}"
    if not path.is_dir():
        raise InvalidInput(f"{where} does not exist or is not a folder", field="rerank")
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        raise InvalidInput(
            f"{where} holds no readable config.json: not a sentence-transformers CrossEncoder "
            "folder",
            field="rerank",
        ) from None
    kinds = config.get("architectures") if isinstance(config, dict) else None
    if not isinstance(kinds, list) or not any(
        str(k).endswith("ForSequenceClassification") for k in kinds
    ):
        raise InvalidInput(
            f"{where} is not a CrossEncoder (its model is {kinds!r}, not a "
            "...ForSequenceClassification): an embedding model cannot rerank pairs",
            field="rerank",
        )
    labels = config.get("id2label") or {"0": "LABEL_0"}
    if len(labels) != 1:
        raise InvalidInput(
            f"{where} has {len(labels)} labels; a reranker gives one relevance score per pair",
            field="rerank",
        )


def offline() -> None:
    """sentence-transformers as it must run here: never reaching for a hub, quiet."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def load_cross(path: Path, *, threads: int | None = None) -> CrossModel:
    """The CrossEncoder in ``path`` (checked; kept loaded while its folder is unchanged)."""
    path = path.expanduser().resolve()
    check_folder(path)
    key = (str(path), (path / "config.json").stat().st_mtime_ns)
    with _LOADING:
        found = _LOADED.get(key)
        if found is not None:
            return found
        offline()
        from sentence_transformers import CrossEncoder

        try:
            model = CrossEncoder(str(path), device="cpu")
        except Exception as exc:  # a damaged folder raises many kinds of error
            raise InvalidInput(
                f"sentence-transformers cannot load the cross-encoder {str(path)!r}: "
                f"{type(exc).__name__}: {str(exc)[:200]}",
                field="rerank",
            ) from None
        if len(_LOADED) >= _KEEP:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = CrossModel(model, path)
        return _LOADED[key]


def item_text(stored: Any) -> str:
    """What the cross-encoder reads of an item: its text fields, in their stored order."""
    return " ".join(v for v in stored.item.fields.values() if v)


@dataclass(frozen=True)
class CrossStage:
    """The plan stage a request's ``rerank`` adds (after the mode's own rankers)."""

    config: RerankConfig
    name: str = "cross"

    def build(self, sources: Sources) -> CrossEncoderRanker:
        model = self.config.model
        if model == TRAINED:
            trained = sources.reranker.usable()
            cross, depth, weight = trained.model(), trained.depth, trained.weight
        else:
            cross = load_cross(Path(model[len(PREFIX) :]))
            depth, weight = DEFAULT_DEPTH, DEFAULT_WEIGHT
        depth = self.config.depth if self.config.depth is not None else depth
        weight = float(self.config.weight) if self.config.weight is not None else weight
        return CrossEncoderRanker(cross, depth, weight, sources.fetch)


class CrossEncoderRanker(Ranker):
    """The candidates' top ``depth`` rescored by the cross-encoder and blended (module doc).
    ``explain``: its list ("cross") is the cross-encoder's score, and each hit's features hold
    ``cross_encoder`` (that score) and ``cross_weight`` (its share of the blend)."""

    name = "cross"

    def __init__(self, model: CrossModel, depth: int, weight: float, fetch: Any) -> None:
        self.model, self._depth, self.weight, self.fetch = model, depth, weight, fetch

    @classmethod
    def build(cls, sources: Sources) -> CrossEncoderRanker:
        return CrossStage(RerankConfig(model=TRAINED)).build(sources)

    def depth(self, k: int) -> int:
        return max(k, self._depth)

    def rank(
        self,
        queries: QueryBatch,
        candidates: list[Ranked],
        k: int,
        lists: Mapping[str, Sequence[Ranked]] | None = None,
    ) -> Ranking:
        texts = queries.texts  # an InvalidInput for vector-only queries
        start = time.perf_counter()
        heads = [(d[: self._depth], s[: self._depth]) for d, s in candidates]
        stored = self.fetch(sorted({int(d) for docnos, _ in heads for d in docnos}))
        pairs = [
            (text, item_text(stored[int(d)]))
            for text, (docnos, _) in zip(texts, heads)
            for d in docnos
        ]
        timings = {"cross_fetch_ms": _ms(start)}
        start = time.perf_counter()
        flat = self.model.score(pairs)
        timings["cross_model_ms"] = _ms(start)
        sizes = np.cumsum([d.size for d, _ in heads])[:-1]
        scores, ordered, features = [], [], []
        for given, cross in zip(candidates, np.split(flat, sizes)):
            scored, served = rerank_list(given, cross, self._depth, self.weight, k)
            scores.append(scored)
            ordered.append(served)
            values = np.column_stack([cross, np.full(cross.size, self.weight, np.float32)])
            features.append((given[0][: cross.size], values.astype(np.float32)))
        return Ranking(
            ordered,
            scores,
            ["not scored by the cross-encoder: below its depth"] * len(candidates),
            timings,
            features=(("cross_encoder", "cross_weight"), features),
        )


def rerank_list(
    given: Ranked, cross: np.ndarray, depth: int, weight: float, k: int
) -> tuple[Ranked, Ranked]:
    """One query's candidates (``given``, best first) whose top ``depth`` the cross-encoder
    scored (``cross: float32[min(depth, n)]``): its own list (by its score) and the served top
    ``k`` (the blend of the head, then the candidates below the depth in their order)."""
    docnos, scores = given[0][: cross.size], given[1][: cross.size]
    order = np.lexsort((docnos, -cross))  # equal scores by docno: deterministic
    scored = (docnos[order], cross[order].astype(np.float32))
    if weight >= 1.0:
        head = scored
    else:
        weights = {"candidates": 1.0 - weight, "cross": weight}
        head = fuse_lists({"candidates": (docnos, scores), "cross": scored}, weights, k)
    rest = (given[0][depth:], given[1][depth:])
    room = k - head[0].size
    if room <= 0 or not rest[0].size:
        return scored, (head[0][:k], head[1][:k])
    low = float(head[1].min()) if head[1].size else 0.0
    below = low - 1.0 - np.arange(min(room, rest[0].size), dtype=np.float32)
    served = (
        np.concatenate([head[0], rest[0][:room]]),
        np.concatenate([head[1], below]).astype(np.float32),
    )
    return scored, served
