"""``Collection``'s learning: the trust of the hybrid in each retriever, the calibration of
search scores, the learned ranker of mode "ranked", the sequential recommendation source and
the tuned text encoder, each fitted and saved in the collection's folder. A mixin of
``sleuth.engine.Collection``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sleuth.collection_state import CollectionState
from sleuth.rank.cross_fit import train_reranker
from sleuth.rank.learned import RankerState, load_ranker
from sleuth.rank.trainer import collection_id, fit_model, training_data
from sleuth.retrieve import LexicalRetriever
from sleuth.retrieve.base import Ranked
from sleuth.search import Trace, plan_for
from sleuth.search import calibration as calib
from sleuth.search.final import hit_features
from sleuth.search.fusion import match
from sleuth.search.trust import FusionTrust, fit_trust
from sleuth.tune import SOURCES, TuneConfig, tune_collection

__all__ = ["CollectionLearning"]

WORD_PIECES = 2  # model tokens per word to allow for, so that a window stays inside the read


def _words_read(max_tokens: int | None) -> int | None:
    """About how many words of an item an encoder reading ``max_tokens`` tokens sees."""
    return None if max_tokens is None else max(1, max_tokens // WORD_PIECES)


class CollectionLearning(CollectionState):
    """``fit_fusion``, ``calibrate``, ``train_ranker``, ``train_reranker``, ``train`` and
    ``tune`` of ``Collection``."""

    def _load_models(self) -> None:
        """Load what was fitted on this collection's scores (the calibration, the fusion
        trust, the ranker), each only when fitted with the active encoder: a migration's
        cutover or rollback changes every dense score, so what was fitted before it is
        warned about (calibration, trust: as if absent) or refused (mode "ranked")."""
        models, encoder = self.path / "models", self.encoder.id
        self._calibration = calib.Calibration.load(models, encoder)
        self._trust = FusionTrust.load(models, encoder)
        self._ranker = load_ranker(self.path, self.store.get_meta("collection_id"), encoder)

    def fit_fusion(self) -> dict[str, Any]:
        """Learn, without judgments, how much the hybrid trusts each retriever here: the dense
        weight whose fusion best finds the items that pseudo-queries made from them ask for
        (``sleuth.search.trust``), saved in ``models/fusion.json`` and used by every search
        whose fusion has ``trust`` on (the default). Returns the manifest."""
        with self._apply:
            self._refresh()
            found = fit_trust(
                self.store,
                self._ix.attributes.live,
                self.config.text_fields,
                self._hybrid_lists,
                self.config.fusion,
                window=_words_read(self.encoder.max_tokens),
            )
            found = replace(found, encoder=self.encoder.id)
            found.save(self.path / "models")
            self._trust = found
        return found.manifest()

    def _hybrid_lists(self, texts: list[str]) -> list[tuple[Ranked, Ranked, float]]:
        plan = plan_for("hybrid", late=self.late is not None)
        with self._rw.read():
            context = self._context(self._ix, None)
            depth = context.fusion.depth
            trace = Trace(mode="hybrid", k=depth, queries=len(texts))
            outcome = plan.run(context, texts, depth, None, trace)
            lexical = context.retrievers["lexical"]
            if not isinstance(lexical, LexicalRetriever):
                raise TypeError(f"the hybrid plan needs the lexical retriever, got {lexical!r}")
            return [
                (lex, den, match(lexical, text, lex))
                for lex, den, text in zip(outcome.lists["lexical"], outcome.lists["dense"], texts)
            ]

    def calibrate(
        self,
        qrels: dict[str, dict[str, int]] | None = None,
        queries: dict[str, str] | None = None,
        *,
        modes: Sequence[str] | None = None,
        method: str = "platt",
    ) -> dict[str, Any]:
        """Fit each mode's probability of relevance and save it (bad input writes nothing):
        from judgments (``qrels`` {query id: {item id: grade}}, ``queries`` {query id:
        text}) or, without both, from the collection's own items; see
        ``sleuth.search.calibration``. ``method``: "platt" or "isotonic". Returns the manifest."""
        modes = modes or calib.default_modes(self.late is not None)
        with self._apply:
            self._refresh()
            found = calib.calibrate(
                self.store,
                self._ix.attributes.live,
                self.config.text_fields,
                self._features,
                qrels,
                queries,
                modes,
                method,
            )
            found = replace(found, encoder=self.encoder.id)
            found.save(self.path / "models")
            self._calibration = found
        return found.manifest()

    def _features(self, texts: list[str], mode: str, k: int) -> list[Any]:
        plan = plan_for(mode, late=self.late is not None)
        trace = Trace(mode=mode, k=k, queries=len(texts))
        with self._rw.read():
            context = self._context(self._ix, None)
            outcome = plan.run(context, texts, k, None, trace)
            names, feats = hit_features(context, texts, outcome)
        return [(d, names, x) for (d, _), x in zip(outcome.results, feats)]

    def train_ranker(
        self,
        qrels: Any = None,
        queries: Any = None,
        *,
        attributes: Sequence[str] = (),
        params: dict[str, Any] | None = None,
        tune: bool = False,
        seed: int = 0,
    ) -> dict[str, Any]:
        """Train and save the ranker of mode ``"ranked"`` (LambdaMART, ``sleuth.rank``) from
        ``qrels`` (query id -> {item id: grade}) and ``queries`` (id -> text), or BEIR files of
        them; with neither, from the search events recorded (``sleuth.rank.clicks``).
        ``attributes``: numeric attributes as features; ``params`` (``rounds``,
        ``learning_rate``, ``num_leaves``, ``min_data_in_leaf``) or ``tune`` (3-fold
        cross-validation over these queries). Deterministic. Returns the model's manifest."""
        self._refresh(wait=False)
        with self._rw.read():  # the searches; the fit below lets writes go on
            data = training_data(
                self._context(self._ix),
                self.store,
                self.config.text_fields,
                qrels,
                queries,
                attributes=attributes,
            )
        model = fit_model(data, params=params, tune=tune, seed=seed)
        with self._apply, self._writer:
            model.info["collection_id"] = collection_id(self.store)
            model.info["encoder"] = self.encoder.id
            model.save(self.path)
            self._ranker = RankerState(model)
        return model.manifest()

    def train_reranker(
        self,
        qrels: Any = None,
        queries: Any = None,
        *,
        minutes: float = 30.0,
        seed: int = 0,
        keep_checkpoints: bool = False,
        progress: bool | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Fine-tune a cross-encoder from the bundled MiniLM on ``qrels`` and ``queries`` (as
        ``train_ranker`` reads them) or, with neither, the recorded search clicks, with hard
        negatives from the hybrid's own lists (``sleuth.rank.cross_train``), and save it in
        ``models/reranker-<id>/``: ``search(..., rerank="trained")`` then uses it, with the
        depth and blend its held-out queries chose. ``minutes``: the time budget;
        ``options``: ``CrossTraining`` settings. Seeded; an interrupted run resumes from its
        last epoch; bad input writes nothing. Returns the manifest (and its ``path``)."""
        return train_reranker(
            self,
            qrels,
            queries,
            minutes=minutes,
            seed=seed,
            keep_checkpoints=keep_checkpoints,
            progress=progress,
            **options,
        )

    def train(self, *, progress: bool | None = None, **options: Any) -> dict[str, Any]:
        """Train the sequential source (SASRec) on every recorded event, warm-starting from the
        previous model when there is one, and save it in ``models/``. ``options``: ``SASRec``
        settings (``dim``, ``blocks``, ``max_len``, ``epochs``, ``seed``…) and ``capacity``,
        ``min_count`` of the item ID table. Returns the training summary."""
        return self._recs.train(self.store, progress=progress, **options)

    def tune(
        self,
        *,
        minutes: float = 30.0,
        epochs: int = 2,
        seed: int = 0,
        compatible: bool = False,
        sources: Sequence[str] = SOURCES,
        base: str | None = None,
        keep_checkpoints: bool = False,
        progress: bool | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Fine-tune the collection's sentence-transformers encoder (or ``base``, a model name
        or folder) on the collection's own items, without labels, and save the model in
        ``models/encoder-<id>/`` (usable by any collection as ``encoder=PATH``); the
        collection's own encoder is not changed (``migrate`` switches it). ``sources``: the
        pairs ("disagreement", "titles", "crops"); ``compatible``: the new model's queries
        also learn to search the collection's stored vectors; ``minutes``: the time budget;
        ``options``: the other ``sleuth.tune.TuneConfig`` settings. An interrupted run resumes
        from its last epoch. Seeded, deterministic. Returns the model's manifest (and its
        ``path``).

        >>> col.tune(minutes=20, compatible=True)["validation"]["per_epoch"]  # doctest: +SKIP
        """
        config = TuneConfig.of(
            minutes=minutes,
            epochs=epochs,
            seed=seed,
            compatible=compatible,
            sources=tuple(sources) if isinstance(sources, list | tuple) else sources,
            **options,
        )
        self._refresh(wait=False)
        return tune_collection(
            self, config, base=base, keep_checkpoints=keep_checkpoints, progress=progress
        )
