"""The settings of ``Collection.tune``: one frozen, keyword-only dataclass shared by the Python
API, the CLI and the model's manifest. Bad values raise ``InvalidInput`` before anything runs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sleuth.checks import check_bool, check_float, check_int
from sleuth.errors import InvalidInput

__all__ = ["MIN_ITEMS", "SOURCES", "TuneConfig"]

#: The kinds of training pairs (see ``sleuth.tune.pairs``).
SOURCES = ("disagreement", "titles", "crops")
#: Fewer items than this give too few pairs and held-out items to learn and stop from.
MIN_ITEMS = 50


@dataclass(frozen=True, kw_only=True)
class TuneConfig:
    """``minutes``: the time budget (mining, training and validation; the epoch under way when
    it runs out ends early and is validated). ``epochs``: passes over the mined pairs.
    ``sources``: which pairs to mine. ``compatible``: add the backward-compatibility term
    (``sleuth.tune.loss``). ``max_pairs``: pairs mined per epoch, shared by the sources.
    ``max_doc_tokens``: documents are cut to this many word pieces while training (128 costs a
    quarter of 256 here; serving keeps the model's own length). ``holdout``: items set aside
    for the validation signal (at most a tenth of the items). ``patience``: epochs without a
    better signal before stopping. ``anchor``: weight of the term keeping the documents'
    embeddings near the collection's stored vectors (mean ``1 - cos``; it stops the drift
    that makes a tuned model worse than its base). ``documents``: False trains the query side
    only, against the stored vectors (no document is encoded while training, several times
    cheaper a step; the model's queries search the stored vectors, as ``compatible``)."""

    minutes: float = 30.0
    epochs: int = 2
    seed: int = 0
    compatible: bool = False
    sources: tuple[str, ...] = SOURCES
    max_pairs: int = 320
    batch_size: int = 32
    learning_rate: float = 1e-5
    warmup: float = 0.1
    scale: float = 20.0
    compat_weight: float = 1.0
    max_query_tokens: int = 64
    max_doc_tokens: int = 128
    holdout: int = 150
    patience: int = 1
    anchor: float = 1.0
    documents: bool = True

    def __post_init__(self) -> None:
        check_float(self.minutes, "minutes", 0.0, 24 * 60.0, lo_open=True)
        check_int(self.epochs, "epochs", 1, 100)
        check_int(self.seed, "seed", 0, 2**32 - 1)
        check_bool(self.compatible, "compatible")
        sources = self.sources
        if isinstance(sources, str) or not isinstance(sources, tuple | list) or not sources:
            raise InvalidInput(
                f"sources must be a non-empty list of {', '.join(SOURCES)}, got {sources!r:.80}",
                field="sources",
            )
        unknown = [s for s in sources if s not in SOURCES]
        if unknown:
            raise InvalidInput(
                f"sources: unknown pair source {unknown[0]!r:.40}; known: {', '.join(SOURCES)}",
                field="sources",
                allowed=list(SOURCES),
            )
        if len(set(sources)) != len(sources):
            raise InvalidInput(f"sources has duplicates: {list(sources)}", field="sources")
        object.__setattr__(self, "sources", tuple(sources))
        check_int(self.max_pairs, "max_pairs", 8, 1_000_000)
        check_int(self.batch_size, "batch_size", 2, 1024)
        check_float(self.learning_rate, "learning_rate", 0.0, 1e-2, lo_open=True)
        check_float(self.warmup, "warmup", 0.0, 0.5)
        check_float(self.scale, "scale", 1.0, 100.0)
        check_float(self.compat_weight, "compat_weight", 0.0, 10.0)
        check_int(self.max_query_tokens, "max_query_tokens", 8, 512)
        check_int(self.max_doc_tokens, "max_doc_tokens", 16, 512)
        check_int(self.holdout, "holdout", 5, 10_000)
        check_int(self.patience, "patience", 1, 100)
        check_float(self.anchor, "anchor", 0.0, 100.0)
        check_bool(self.documents, "documents")

    @classmethod
    def of(cls, **options: Any) -> TuneConfig:
        """A config from keyword settings; an unknown name is an InvalidInput listing them."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise InvalidInput(
                f"unknown tune setting {unknown[0]!r:.40}; known: {', '.join(known)}",
                field=unknown[0][:40],
            )
        return cls(**options)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["sources"] = list(self.sources)
        return out

    def training_key(self) -> dict[str, Any]:
        """What a checkpoint must match to be resumed: everything but the time budget."""
        out = self.to_dict()
        del out["minutes"], out["patience"]
        return out
