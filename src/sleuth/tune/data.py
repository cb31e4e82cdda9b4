"""What a tuning run learns from, mined once and kept with its checkpoints: the held-out items,
the training pairs (``sleuth.tune.pairs``), the validation set (``sleuth.tune.validate``), the
texts of the hard negatives, and the guide's query vectors.

Pseudo-queries are searched through the collection's own ``search_batch``, lexical and dense
(the dense one with query vectors encoded once, which are also the guide's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sleuth.progress import progress_bar
from sleuth.tune.checkpoint import Checkpoints
from sleuth.tune.config import TuneConfig
from sleuth.tune.pairs import Doc, Lists, Pair, docs_of, mine, pseudo_queries
from sleuth.tune.validate import ValidationSet, validation_set

__all__ = ["TuneData", "tune_data"]

DEPTH = 20  # each retriever's top list
CHUNK = 256
KINDS = ("titles", "crops")


@dataclass(frozen=True)
class TuneData:
    pairs: list[Pair]
    validation: ValidationSet
    texts: dict[str, str]  # hard negatives' indexed texts
    guide: np.ndarray  # float32[len(pairs), dim]
    seen: dict[str, Any]  # what the manifest reports under "data"


def _retrieve(col: Any, texts: list[str], show: bool | None) -> tuple[Lists, np.ndarray]:
    lexical: list[list[str]] = []
    dense: list[list[str]] = []
    vectors = []
    with progress_bar("mining pairs", len(texts), show) as advance:
        for at in range(0, len(texts), CHUNK):
            part = texts[at : at + CHUNK]
            found = col.encoder.encode(part).vectors
            vectors.append(found)
            lexical += [
                [h.id for h in hits] for hits in col.search_batch(part, DEPTH, mode="lexical")
            ]
            dense += [
                [h.id for h in hits]
                for hits in col.search_batch(None, DEPTH, vectors=found, mode="dense")
            ]
            advance(len(part))
    return Lists(lexical, dense), np.concatenate(vectors).astype(np.float32)


def _mine(col: Any, docs: list[Doc], config: TuneConfig, show: bool | None) -> TuneData:
    rng = np.random.default_rng(config.seed)
    size = min(config.holdout, len(docs) // 10)
    held = {docs[i].id for i in rng.choice(len(docs), size, replace=False)}
    train = pseudo_queries([d for d in docs if d.id not in held], KINDS, config.seed)
    if len(train) > 3 * config.max_pairs:  # enough candidates for every source's share
        keep = np.sort(rng.choice(len(train), 3 * config.max_pairs, replace=False))
        train = [train[i] for i in keep]
    check = pseudo_queries([d for d in docs if d.id in held], KINDS, config.seed + 1)
    lists, vectors = _retrieve(col, [q.text for q in train + check], show)
    n = len(train)
    train_lists = Lists(lists.lexical[:n], lists.dense[:n])
    pairs, counts = mine(train, train_lists, config.sources, config.max_pairs, config.seed, held)
    texts = {d.id: d.text for d in docs}
    validation = validation_set(check, Lists(lists.lexical[n:], lists.dense[n:]), texts, held)
    at = {q.text: i for i, q in enumerate(train)}
    per_source = {s: sum(p.source == s for p in pairs) for s in config.sources}
    seen = {
        "items": len(docs),
        "held_out_items": len(held),
        "pseudo_queries": n,
        "pairs": per_source,
        "hard_negatives": sum(p.negative is not None for p in pairs),
        **counts,
        "validation_queries": len(validation.queries),
        "validation_docs": len(validation.docs),
    }
    return TuneData(
        pairs,
        validation,
        {p.negative: texts[p.negative] for p in pairs if p.negative is not None},
        vectors[[at[p.query] for p in pairs]],
        seen,
    )


def tune_data(
    col: Any, items: list[Any], config: TuneConfig, checkpoints: Checkpoints, show: bool | None
) -> TuneData:
    """The run's data: read from its checkpoint folder, or mined from ``items`` and saved there
    first (so a resumed run trains on exactly the same pairs)."""
    saved = checkpoints.read_json("data.json")
    if saved is None:
        data = _mine(col, docs_of(items, col.config.text_fields), config, show)
        checkpoints.folder.mkdir(parents=True, exist_ok=True)
        np.save(checkpoints.folder / "guide.npy", data.guide)
        checkpoints.write_json(
            "data.json",
            {
                "pairs": [p.to_dict() for p in data.pairs],
                "validation": data.validation.to_dict(),
                "texts": data.texts,
                "seen": data.seen,
            },
        )
        return data
    return TuneData(
        [Pair(**p) for p in saved["pairs"]],
        ValidationSet(**saved["validation"]),
        saved["texts"],
        np.load(checkpoints.folder / "guide.npy"),
        saved["seen"],
    )
