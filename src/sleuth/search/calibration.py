"""A collection's calibration: per search mode, the model from a hit's features to its
probability of relevance, fitted from judgments (qrels) or, without them, from pseudo-queries
the collection's own items make (a span of an item's text, its words thinned, asks for that
item: the collection's own statistics of raw BM25 and cosine levels for a match and for none).

Saved as ``models/calibration.json``: a manifest (format, library version, source, the
collection's change sequence number it was fitted at, per-mode training counts) and each
mode's ``Calibrator``; written atomically, loaded on open. Bad input writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sleuth._version import __version__
from sleuth.errors import InvalidInput
from sleuth.rank.calibrate import METHODS, Calibrator
from sleuth.search.saved import load_json, save_json
from sleuth.store import Store, StoredItem

__all__ = [
    "DEPTH",
    "FILE",
    "Calibration",
    "calibrate",
    "calibrator_for",
    "check_judgments",
    "default_modes",
    "fit",
    "pseudo_queries",
]

FILE = "calibration.json"
FORMAT = 1
DEPTH = 30  # hits per training query: the ranks a served list reaches
PSEUDO_QUERIES = 400
PSEUDO_WORDS = (6, 16)  # span length of a pseudo-query, before thinning
KEEP_WORDS = 0.6  # a pseudo-query keeps about this share of its span's words
BACKGROUND = 0.25  # background queries per pseudo-query: each word from a different item

# (texts, mode, k) -> per query: (docnos, feature names, features float64[n, f])
Features = Callable[[list[str], str, int], list[tuple[np.ndarray, tuple[str, ...], np.ndarray]]]


@dataclass(frozen=True)
class Calibration:
    source: str  # "judgments" or "self"
    seq: int
    modes: dict[str, Calibrator]
    stats: dict[str, Any] = field(default_factory=dict)
    encoder: str | None = None  # whose dense scores it was fitted on

    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "sleuth": __version__,
            "source": self.source,
            "seq": self.seq,
            "encoder": self.encoder,
            "modes": sorted(self.modes),
            "stats": self.stats,
        }

    def save(self, folder: Path) -> Path:
        body = {**self.manifest(), "models": {m: c.to_dict() for m, c in self.modes.items()}}
        return save_json(folder / FILE, body)

    @classmethod
    def load(cls, folder: Path, encoder: str) -> Calibration | None:
        """The saved calibration, or None (absent; unreadable or fitted with another encoder
        than ``encoder``: warned, as if absent)."""
        return load_json(folder / FILE, FORMAT, cls._parse, "calibrate again", encoder)

    @classmethod
    def _parse(cls, raw: dict[str, Any]) -> Calibration:
        models = {m: Calibrator.from_dict(c) for m, c in raw["models"].items()}
        return cls(raw["source"], int(raw["seq"]), models, raw.get("stats", {}), raw.get("encoder"))


def check_judgments(
    qrels: Any, queries: Any, docnos: Mapping[str, int]
) -> tuple[dict[str, str], dict[str, set[int]]]:
    """``queries`` ({id: text}) and ``qrels`` ({query id: {item id: grade}}, grade > 0 is
    relevant), checked: every judged query has a text, every judged item is in the collection
    (``docnos``: id -> docno of the judged ids found), at least one judgment is positive.
    Returns the judged queries' texts and their relevant docnos."""
    if not isinstance(qrels, Mapping) or not qrels:
        raise InvalidInput("qrels must be a non-empty mapping {query id: {item id: grade}}")
    if not isinstance(queries, Mapping) or not queries:
        raise InvalidInput("queries must be a non-empty mapping {query id: text}")
    texts: dict[str, str] = {}
    relevant: dict[str, set[int]] = {}
    for qid, judged in qrels.items():
        if qid not in queries:
            raise InvalidInput(f"qrels name query {qid!r}, which queries lacks", query=qid)
        if not isinstance(judged, Mapping):
            raise InvalidInput(f"qrels of query {qid!r} must map item ids to grades", query=qid)
        for item, grade in judged.items():
            if item not in docnos:
                raise InvalidInput(
                    f"qrels of query {qid!r} name item {item!r}, which is not in the "
                    "collection; nothing was written",
                    query=qid,
                    id=item,
                )
            if isinstance(grade, bool) or not isinstance(grade, int | float):
                raise InvalidInput(f"grade of {qid!r}/{item!r} must be a number", query=qid)
        text = queries[qid]
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(f"query {qid!r} must be a non-empty text", query=qid)
        texts[qid] = text
        relevant[qid] = {docnos[i] for i, g in judged.items() if g > 0}
    if not any(relevant.values()):
        raise InvalidInput("the qrels hold no positive judgment (grade > 0): nothing to learn")
    return texts, relevant


def pseudo_queries(
    items: Sequence[StoredItem],
    text_fields: Sequence[str],
    seed: int = 0,
    *,
    window: int | None = None,
) -> tuple[dict[str, str], dict[str, set[int]]]:
    """One pseudo-query per item with enough text: a random span of its text with about
    ``KEEP_WORDS`` of the words kept, relevant: that item. And ``BACKGROUND`` as many
    background queries, each word from another item: the collection's words, about nothing it
    holds (relevant: none), which teach what a query the collection cannot answer scores."""
    rng = np.random.default_rng(seed)
    texts: dict[str, str] = {}
    relevant: dict[str, set[int]] = {}
    spans: list[list[str]] = []
    for stored in items:
        words = " ".join(stored.item.fields.get(f, "") for f in text_fields).split()[:window]
        if len(words) < PSEUDO_WORDS[0]:
            continue
        length = int(rng.integers(PSEUDO_WORDS[0], PSEUDO_WORDS[1] + 1))
        start = int(rng.integers(0, max(1, len(words) - length + 1)))
        span = words[start : start + length]
        kept = [w for w in span if rng.random() < KEEP_WORDS] or span[:1]
        qid = f"pseudo-{stored.docno}"
        texts[qid] = " ".join(kept)
        relevant[qid] = {stored.docno}
        spans.append(span)
    for i in range(int(len(spans) * BACKGROUND)):
        size = int(rng.integers(PSEUDO_WORDS[0], PSEUDO_WORDS[1] + 1) * KEEP_WORDS) + 1
        donors = rng.choice(len(spans), min(len(spans), size), replace=False)
        texts[f"background-{i}"] = " ".join(str(rng.choice(spans[d])) for d in donors)
        relevant[f"background-{i}"] = set()
    if not texts:
        raise InvalidInput(
            "the collection has no item with enough text to calibrate from; calibrate with "
            "judgments (qrels and queries)"
        )
    return texts, relevant


def fit(
    features: Features,
    texts: dict[str, str],
    relevant: dict[str, set[int]],
    modes: Sequence[str],
    *,
    method: str = "platt",
) -> tuple[dict[str, Calibrator], dict[str, Any]]:
    """Each mode's calibrator, from its top ``DEPTH`` hits of ``texts`` labelled by
    ``relevant``; and the training counts."""
    if method not in METHODS:
        raise InvalidInput(
            f"unknown calibration method {method!r}; allowed: {', '.join(METHODS)}", method=method
        )
    qids = list(texts)
    models: dict[str, Calibrator] = {}
    stats: dict[str, Any] = {"queries": len(qids), "method": method}
    for mode in modes:
        found = features([texts[q] for q in qids], mode, DEPTH)
        xs, ys = [], []
        names = found[0][1] if found else ()
        for qid, (docnos, _, x) in zip(qids, found):
            xs.append(x)
            ys.append(np.isin(docnos, np.fromiter(relevant[qid], np.int64)))
        x, y = np.concatenate(xs), np.concatenate(ys)
        models[mode] = Calibrator.fit(x, y, names, method)
        stats[mode] = {"hits": int(y.size), "relevant": int(y.sum())}
    return models, stats


def default_modes(late: bool) -> list[str]:
    """The modes ``calibrate`` fits when not told: the base ones, and MaxSim with late
    interaction."""
    return ["lexical", "dense", "hybrid", *(["hybrid+maxsim"] if late else [])]


def calibrator_for(found: Calibration | None, mode: str, needed: bool) -> Calibrator | None:
    """The mode's calibrator (None: not calibrated; an ``InvalidInput`` when ``needed``)."""
    model = found.modes.get(mode) if found is not None else None
    if model is None and needed:
        done = ", ".join(found.modes) if found is not None else "none"
        raise InvalidInput(
            f"mode {mode!r} is not calibrated (calibrated: {done}), so min_relevance and "
            'cutoff="auto" have no probability to read: run `sleuth calibrate` (with --qrels '
            "and --queries, or without them: from the collection itself)",
            mode=mode,
        )
    return model


def calibrate(
    store: Store,
    live: np.ndarray,
    text_fields: Sequence[str],
    features: Features,
    qrels: Any,
    queries: Any,
    modes: Sequence[str],
    method: str,
) -> Calibration:
    """The calibration of ``modes``, from judgments or (neither ``qrels`` nor ``queries``)
    from pseudo-queries of up to ``PSEUDO_QUERIES`` items drawn (seeded) among ``live``."""
    seq = store.last_seq()
    if qrels is None and queries is None:
        docnos = np.flatnonzero(live)
        pick = np.random.default_rng(0).choice(
            docnos, min(PSEUDO_QUERIES, docnos.size), replace=False
        )
        stored = store.items(sorted(pick.tolist()))
        texts, relevant = pseudo_queries(list(stored.values()), text_fields)
        source = "self"
    else:
        judged = (
            sorted({i for j in qrels.values() for i in j})
            if isinstance(qrels, Mapping) and all(isinstance(j, Mapping) for j in qrels.values())
            else []
        )
        texts, relevant = check_judgments(qrels, queries, store.docnos_of(judged))
        source = "judgments"
    models, stats = fit(features, texts, relevant, modes, method=method)
    return Calibration(source, seq, models, stats)
