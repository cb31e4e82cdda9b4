"""The label-free validation signal that stops tuning early: held-out pseudo-queries must find
their own item.

A few items (``TuneConfig.holdout``) are kept out of training altogether. Each gives up to two
queries, its title and a crop (``sleuth.tune.pairs``), whose answer is the item without the
query's words. They are searched, with the model being tuned, among all the answers and the
full texts of the collection's top 5 lexical and top 5 dense results for every one of them
(hard distractors, held-out items excepted). The signal is the mean of the two kinds' MRR@10.

How it tracks judgments (``benchmarks/tune.py main``): with the anchored recipe it rose with
held-out nDCG@10 (Cranfield 0.344, 0.357, 0.361 over epochs 0–2 while dense nDCG@10 on the
stored vectors went 0.382, 0.385, 0.386); without the anchor it rose while nDCG@10 fell
(SciFact 0.402 → 0.418, dense 0.645 → 0.572): a model drifting toward its own pseudo-queries
fools it, so it is a stopping rule for anchored runs, not a measure of quality.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sleuth.tune.pairs import Lists, Query

__all__ = ["ValidationSet", "signal", "validation_set"]

DISTRACTORS = 5  # per retriever and query
MAX_DOCS = 2000


@dataclass(frozen=True)
class ValidationSet:
    """``queries`` and their ``kinds``; ``docs``: the texts searched; ``answers``: each query's
    doc (an index into ``docs``)."""

    queries: list[str]
    kinds: list[str]
    docs: list[str]
    answers: list[int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validation_set(
    queries: Sequence[Query], lists: Lists, texts: dict[str, str], held: set[str]
) -> ValidationSet:
    docs = [q.positive for q in queries]
    seen: set[str] = set()
    for lex, den in zip(lists.lexical, lists.dense, strict=True):
        for item in [*lex[:DISTRACTORS], *den[:DISTRACTORS]]:
            if item not in held and item not in seen and len(docs) < MAX_DOCS:
                seen.add(item)
                docs.append(texts[item])
    return ValidationSet(
        [q.text for q in queries], [q.kind for q in queries], docs, list(range(len(queries)))
    )


def signal(model: Any, vs: ValidationSet, batch_size: int = 32) -> dict[str, float]:
    """``{"signal": mean of the kinds' MRR@10, "mrr@10_<kind>": ...}`` of ``model`` (a
    sentence-transformers model, left in the mode it was in)."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            q = model.encode(vs.queries, batch_size=batch_size, normalize_embeddings=True)
            d = model.encode(vs.docs, batch_size=batch_size, normalize_embeddings=True)
    finally:
        model.train(was_training)
    scores = np.asarray(q, np.float32) @ np.asarray(d, np.float32).T
    answers = np.array(vs.answers)
    right = scores[np.arange(len(answers)), answers]
    rank = (scores > right[:, None]).sum(axis=1)  # 0: first
    rr = np.where(rank < 10, 1.0 / (rank + 1), 0.0)
    kinds = np.array(vs.kinds)
    out = {f"mrr@10_{k}": round(float(rr[kinds == k].mean()), 4) for k in sorted(set(vs.kinds))}
    out["signal"] = round(float(np.mean(list(out.values()))), 4)
    return out
