"""Pseudo-queries made from a collection's own items, and the training pairs mined from them.

- ``titles``: an item's title is a query for the rest of its text.
- ``crops``: a span of 8–24 words cut out of an item's text is a query for what remains (the
  inverse cloze task; Contriever's cropping, with the span removed so that the pair cannot be
  matched by copying words).
- ``disagreement`` (vstash): the pseudo-queries whose own item one retriever ranks in its top
  3 and the other leaves out of its top list. The retriever that missed it supplies the hard
  negative: what it preferred to the right answer is what the model must learn to rank lower.

Hard negatives come from the collection's retrievers, filtered by a guide (GISTEmbed): the
retriever that found the pair's item vetoes a negative it ranks above that item (a likely
unlabeled positive). A retriever that did not find the item does not veto.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from sleuth.types import Item

__all__ = ["Doc", "Lists", "Pair", "Query", "crop", "docs_of", "mine", "pseudo_queries"]

TOP = 3  # "high in one retriever": within its first TOP
MIN_WORDS, MAX_WORDS = 8, 24  # a crop's length, about a claim or a question


@dataclass(frozen=True)
class Doc:
    """An item as text: ``title`` (its first text field when there are several, else ""),
    ``body`` (the other text fields) and ``text`` (what the collection indexes: both)."""

    id: str
    title: str
    body: str
    text: str


@dataclass(frozen=True)
class Query:
    """A pseudo-query ``text`` of ``kind`` "titles" or "crops", made from item ``item``;
    ``positive``: the text it should find (the item without the query's words)."""

    text: str
    kind: str
    item: str
    positive: str


@dataclass(frozen=True)
class Pair:
    """One training example: ``query`` → ``positive`` (the text of item ``item``), from
    ``source``, with one hard ``negative`` item id (None: in-batch negatives only)."""

    query: str
    positive: str
    item: str
    source: str
    negative: str | None

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


@dataclass(frozen=True)
class Lists:
    """Each query's ranked item ids from the lexical and the dense retriever."""

    lexical: list[list[str]]
    dense: list[list[str]]


def docs_of(items: Iterable[Item], text_fields: Sequence[str]) -> list[Doc]:
    out = []
    for item in items:
        parts = [item.fields[f] for f in text_fields if item.fields.get(f)]
        if not parts:
            continue
        titled = len(text_fields) > 1 and bool(item.fields.get(text_fields[0]))
        title = parts[0] if titled else ""
        body = " ".join(parts[1:] if titled else parts)
        out.append(Doc(item.id, title, body, " ".join(parts)))
    return out


def crop(text: str, rng: np.random.Generator) -> tuple[str, str] | None:
    """``(span, the rest)``: a span of MIN_WORDS to MAX_WORDS words and the text without it;
    None when the text has too few words to leave as many behind."""
    words = text.split()
    if len(words) < 3 * MIN_WORDS:
        return None
    size = int(rng.integers(MIN_WORDS, min(MAX_WORDS, len(words) // 3) + 1))
    start = int(rng.integers(0, len(words) - size + 1))
    return " ".join(words[start : start + size]), " ".join(words[:start] + words[start + size :])


def pseudo_queries(docs: Sequence[Doc], kinds: Iterable[str], seed: int) -> list[Query]:
    """At most one query of each kind per doc (a title of at least 3 words; a crop of a long
    enough text), in doc order; the same seed gives the same queries."""
    rng = np.random.default_rng(seed)
    kinds = set(kinds)
    out = []
    for doc in docs:
        if "titles" in kinds and len(doc.title.split()) >= 3 and len(doc.body.split()) >= 8:
            out.append(Query(doc.title, "titles", doc.id, doc.body))
        cut = crop(doc.text, rng) if "crops" in kinds else None
        if cut is not None:
            out.append(Query(cut[0], "crops", doc.id, cut[1]))
    return out


def _rank(ids: list[str], item: str) -> int | None:
    return ids.index(item) if item in ids else None


def _negative(
    candidates: Iterable[str], item: str, lex: list[str], den: list[str], exclude: set[str]
) -> tuple[str | None, int]:
    """The first candidate no guide vetoes, and how many were vetoed before it."""
    guides = [(ids, rank) for ids in (lex, den) if (rank := _rank(ids, item)) is not None]
    vetoed = 0
    for cand in candidates:
        if cand == item or cand in exclude:
            continue
        if any((r := _rank(ids, cand)) is not None and r < rank for ids, rank in guides):
            vetoed += 1
            continue
        return cand, vetoed
    return None, vetoed


def _interleave(a: list[str], b: list[str]) -> list[str]:
    out: list[str] = []
    for x, y in zip(a, b, strict=False):
        out += [i for i in (x, y) if i not in out]
    return out + [i for i in a[len(b) :] + b[len(a) :] if i not in out]


def mine(
    queries: Sequence[Query],
    lists: Lists,
    sources: Sequence[str],
    max_pairs: int,
    seed: int,
    exclude: set[str],
) -> tuple[list[Pair], dict[str, int]]:
    """The pairs of ``sources`` (at most ``max_pairs``, shared evenly, a source's unused share
    going to the others), shuffled; and counts (``vetoed`` negatives, candidates per source).
    ``exclude``: held-out item ids, never a negative."""
    found: dict[str, list[Pair]] = {s: [] for s in sources}
    vetoed = 0
    for q, lex, den in zip(queries, lists.lexical, lists.dense, strict=True):
        lr, dr = _rank(lex, q.item), _rank(den, q.item)
        found_by = lr if dr is None else dr if lr is None else None  # the one that found it
        if "disagreement" in found and found_by is not None and found_by < TOP:
            # the item is high in one list and absent from the other: learn the other's mistake
            missed = den if dr is None else lex
            neg, v = _negative(missed, q.item, lex, den, exclude)
            found["disagreement"].append(Pair(q.text, q.positive, q.item, "disagreement", neg))
            vetoed += v
            continue
        if q.kind in found:
            neg, v = (
                (None, 0)
                if lr is None and dr is None
                else _negative(_interleave(lex, den), q.item, lex, den, exclude)
            )
            found[q.kind].append(Pair(q.text, q.positive, q.item, q.kind, neg))
            vetoed += v
    rng = np.random.default_rng(seed)
    for pairs in found.values():
        rng.shuffle(pairs)  # type: ignore[arg-type]
    chosen: list[Pair] = []
    left = sorted(found, key=lambda s: len(found[s]))  # smallest first: its unused share moves on
    budget = max_pairs
    for i, source in enumerate(left):
        share = budget // (len(left) - i)
        take = found[source][:share]
        chosen += take
        budget -= len(take)
    order = rng.permutation(len(chosen))
    counts = {f"candidates_{s}": len(p) for s, p in found.items()}
    counts["vetoed_negatives"] = vetoed
    return [chosen[i] for i in order], counts
