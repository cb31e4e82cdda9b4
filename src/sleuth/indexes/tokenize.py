"""The lexical analyzer: lowercase, ``\\w\\w+`` tokens, stopwords out, Snowball stemming.

The same choices as bm25s's defaults, so sleuth's BM25 scores match it to float precision.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import Stemmer
from bm25s.stopwords import STOPWORDS_EN

from sleuth.errors import InvalidInput

__all__ = ["STOPWORDS", "Analyzer"]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
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
        return [self(t) for t in texts]
