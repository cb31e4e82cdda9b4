"""The ranking stage of a sharded collection: the learned ranker of mode ``"ranked"`` and the
calibration of search scores (``min_relevance``, ``cutoff="auto"``), trained and fitted on the
coordinator over the shards' merged lists, saved in the sharded folder (``ranker/model.npz``,
``models/calibration.json``: the files one collection writes), and served as one collection
serves them.

The features are exact: ``sleuth.shards.features`` gives the one ``Featurizer`` the candidates'
postings, lengths, vectors and attributes read from their shards with the global BM25
statistics, so a model trained here reads what one collection holding the same items reads,
and a model trained on either ranks alike. Trained from judgments (``qrels``, ``queries``);
search-click training is not available (search events are not recorded on shards). The
calibration from judgments is exact too; the label-free one (no judgments) draws its pseudo
queries from the live items by global docno, which numbers items otherwise than one
collection does: another draw, another fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from sleuth.config import CollectionConfig, FusionConfig
from sleuth.encoders import Encoder
from sleuth.errors import InvalidInput
from sleuth.indexes.tokenize import Analyzer
from sleuth.rank.learned import RankerState, load_ranker
from sleuth.rank.trainer import fit_model, training_data
from sleuth.search import Context, Trace, plan_for
from sleuth.search import calibration as calib
from sleuth.search.final import hit_features
from sleuth.shards.features import Candidates, ShardedBM25, Terms
from sleuth.shards.gather import Gather, docnos_of, fetch_items, mask_of, retrievers
from sleuth.shards.group import ShardGroup
from sleuth.store import WriterLock

__all__ = ["ShardedLearning"]


class _Catalog:
    """What training and calibration read of a store, over the shards (global docnos)."""

    def __init__(self, group: ShardGroup) -> None:
        self.group = group

    def docnos_of(self, ids: Sequence[str]) -> dict[str, int]:
        return docnos_of(self.group, ids)

    def attribute_types(self) -> dict[str, str]:
        return {k: v for p in self.group.scatter("attribute_types", ((), {})) for k, v in p.items()}

    def last_seq(self) -> int:
        return int(sum(self.group.scatter("last_seq", ((), {}))))

    def items(self, docnos: list[int]) -> Any:
        return fetch_items(self.group, docnos)


class ShardedLearning:
    """The ranker, the calibration and the search ``Context`` of the sharded collection in
    ``folder`` over ``group``."""

    def __init__(
        self,
        folder: Path,
        group: ShardGroup,
        config: CollectionConfig,
        encoder: Encoder,
        analyzer: Analyzer,
        lock: WriterLock,
    ) -> None:
        self.folder, self.group, self.config = folder, group, config
        self.encoder, self.analyzer, self.lock = encoder, analyzer, lock
        self.terms = Terms()
        self.catalog = _Catalog(group)
        self.ranker = load_ranker(folder, group.call(0, "collection_id", create=False), encoder.id)
        self.calibration = calib.Calibration.load(folder / "models", encoder.id)

    def context(
        self, gather: Gather, texts: Sequence[str] | None, fusion: FusionConfig | None
    ) -> tuple[Context, Candidates]:
        """A plan's ``Context`` over ``gather``'s lists, with the candidates its ranker and
        final stage read (``Candidates``: docnos, postings, vectors)."""
        candidates = Candidates(self.group, self.terms)

        def index(name: str) -> Any:
            if name == "dense":
                return candidates
            if name == "bm25" and texts is not None:
                stats = gather.statistics
                return ShardedBM25(self.config.bm25, self.analyzer, candidates, stats, texts)
            return None

        context = Context(
            retrievers=retrievers(gather),
            index=index,
            encoder=self.encoder,
            late=None,
            fusion=fusion or self.config.fusion,
            ranker=self.ranker,
            fetch=candidates.fetch,
        )
        return context, candidates

    def _gather(self, names: Sequence[str]) -> Gather:
        return Gather(self.group, names, None, None, self.analyzer, self.config.bm25.k1)

    def train_ranker(
        self,
        qrels: Any,
        queries: Any,
        *,
        attributes: Sequence[str] = (),
        params: dict[str, Any] | None = None,
        tune: bool = False,
        seed: int = 0,
    ) -> dict[str, Any]:
        """``Collection.train_ranker`` from judgments (see the module doc)."""
        if qrels is None and queries is None:
            raise InvalidInput(
                "a sharded collection trains its ranker from judgments (qrels and queries): "
                "search events are not recorded on shards"
            )
        gather = self._gather(plan_for("hybrid", late=False).retrievers)
        texts = _texts(queries)
        gather.statistics(texts)  # every training query's terms: one scatter, kept for all
        context, _ = self.context(gather, texts, None)
        data = training_data(
            context, self.catalog, self.config.text_fields, qrels, queries, attributes=attributes
        )
        model = fit_model(data, params=params, tune=tune, seed=seed)
        with self.lock:
            model.info["collection_id"] = self.group.call(0, "collection_id", create=True)
            model.info["encoder"] = self.encoder.id
            model.save(self.folder)
            self.ranker = RankerState(model)
        return model.manifest()

    def calibrate(
        self,
        qrels: dict[str, dict[str, int]] | None,
        queries: dict[str, str] | None,
        *,
        modes: Sequence[str] | None,
        method: str,
    ) -> dict[str, Any]:
        """``Collection.calibrate`` over the shards (see the module doc)."""
        live = mask_of(self.group, None)
        found = calib.calibrate(
            self.catalog,  # type: ignore[arg-type]
            live,
            self.config.text_fields,
            self._features,
            qrels,
            queries,
            modes or calib.default_modes(False),
            method,
        )
        found = replace(found, encoder=self.encoder.id)
        with self.lock:
            found.save(self.folder / "models")
            self.calibration = found
        return found.manifest()

    def _features(self, texts: list[str], mode: str, k: int) -> list[Any]:
        plan = plan_for(mode, late=False)
        gather = self._gather(plan.retrievers)
        context, _ = self.context(gather, texts, None)
        outcome = plan.run(context, texts, k, None, Trace(mode=mode, k=k, queries=len(texts)))
        names, feats = hit_features(context, texts, outcome)
        return [(d, names, x) for (d, _), x in zip(outcome.results, feats)]


def _texts(queries: Any) -> list[str]:
    """The query texts to gather statistics for (files are read by ``training_data``)."""
    if isinstance(queries, str | Path):
        from sleuth.io.readers import read_queries

        queries = read_queries(queries)
    if isinstance(queries, dict):
        return [t for t in queries.values() if isinstance(t, str)]
    return []
