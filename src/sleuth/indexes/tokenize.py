"""The lexical analyzer: lowercase, ``\\w\\w+`` tokens, stopwords out, Snowball stemming.

The same choices as bm25s's defaults, so sleuth's BM25 scores match it to float precision.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import chain

import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

from sleuth.errors import InvalidInput

__all__ = ["STOPWORDS", "Analyzer"]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
# ``findall`` of ``\w\w+`` finds the same runs (a match starts where a run of 2+ starts)
_ASCII_TOKEN = re.compile(r"(?a)\w\w+")
STOPWORDS = {"english": frozenset(STOPWORDS_EN)}  # by the names ``config.STOPWORD_LISTS`` allows


class Analyzer:
    def __init__(self, stemmer: str | None = "english", stopwords: str | None = "english") -> None:
        if stopwords is not None and stopwords not in STOPWORDS:
            raise InvalidInput(
                f"stopwords {stopwords!r} unknown; allowed: {', '.join(STOPWORDS)}, null"
            )
        try:
            self._stemmer = Stemmer.Stemmer(stemmer) if stemmer else None
        except KeyError:
            allowed = ", ".join(Stemmer.algorithms())
            raise InvalidInput(f"stemmer {stemmer!r} unknown; allowed: {allowed}, null") from None
        self._stop = STOPWORDS[stopwords] if stopwords else frozenset()
        self._stems: dict[str, str] = {}

    def __call__(self, text: str) -> list[str]:
        words = [w for w in _TOKEN.findall(text.lower()) if w not in self._stop]
        if self._stemmer is None:
            return words
        stems = self._stems
        missing = [w for w in words if w not in stems]
        if missing:
            for word, stem in zip(missing, self._stemmer.stemWords(missing)):
                stems[word] = stem
            if len(stems) > 1_000_000:  # bound the cache on unbounded vocabularies
                stems.clear()
                return self(text)
        return [stems[w] for w in words]

    def many(self, texts: Iterable[str]) -> list[list[str]]:
        tokens, lengths = self.flat(texts)
        ends = np.cumsum(lengths).tolist()
        return [tokens[a:b] for a, b in zip([0, *ends[:-1]], ends)]

    def flat(self, texts: Iterable[str]) -> tuple[list[str], np.ndarray]:
        """Every text's tokens, one list end to end, and ``int64[n]`` how many each text has:
        the same tokens as calling the analyzer on each text."""
        terms, codes, lengths = self.coded(texts)
        return list(map(terms.__getitem__, codes.tolist())), lengths

    def coded(self, texts: Iterable[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
        """A batch analyzed as codes: its distinct terms in order of first occurrence,
        ``int64[total]`` every token's term code end to end, and ``int64[n]`` tokens per
        text (the tokens of ``flat``). One regex pass over the batch joined by a marker word
        (per text when a text holds the marker); lowercase, stopwords and stems are then
        looked up once per distinct word, the rest is numpy."""
        texts = list(texts)
        joined = _MARK.join(texts).lower()
        marked = bool(texts) and joined.count(_MARK_WORD) == len(texts) - 1  # no text holds it
        if marked:  # ASCII text: ASCII classes, the same matches, faster
            words = (_ASCII_TOKEN if joined.isascii() else _TOKEN).findall(joined)
        else:
            per_text = [_TOKEN.findall(text.lower()) for text in texts]
            words = list(chain.from_iterable(per_text))
        distinct = list(dict.fromkeys(words))
        index = {word: i for i, word in enumerate(distinct)}
        codes = np.fromiter(map(index.__getitem__, words), np.int64, len(words))
        if marked:
            marks = codes == index.get(_MARK_WORD, -1)
            doc = (np.cumsum(marks) - marks)[~marks]  # each token's text
            codes = codes[~marks]
        else:
            counts = np.fromiter(map(len, per_text), np.int64, len(per_text))
            doc = np.repeat(np.arange(len(texts)), counts)
        stems = self._stem(distinct)
        terms: dict[str, int] = {}
        stop = self._stop
        term_of = np.array(
            [
                -1 if w in stop or (marked and w == _MARK_WORD) else terms.setdefault(s, len(terms))
                for w, s in zip(distinct, stems)
            ],
            np.int64,
        ).reshape(-1)
        tokens = term_of[codes]
        kept = tokens >= 0
        lengths = np.bincount(doc[kept], minlength=len(texts)).astype(np.int64)
        return list(terms), tokens[kept], lengths

    def _stem(self, words: list[str]) -> list[str]:
        """The stem of each (distinct) word, from the cache or the stemmer."""
        if self._stemmer is None:
            return words
        stems = self._stems
        missing = [w for w in words if w not in stems]
        if missing:
            stems.update(zip(missing, self._stemmer.stemWords(missing)))
        out = list(map(stems.__getitem__, words))
        if len(stems) > 1_000_000:  # bound the cache on unbounded vocabularies
            stems.clear()
        return out


_MARK_WORD = "zqxjtextendzqxj"  # matches ``_TOKEN`` whole; between texts in a joined batch
_MARK = f" {_MARK_WORD} "
