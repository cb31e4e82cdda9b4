"""The lexical analyzer: lowercase, ``\\w\\w+`` tokens, stopwords out, Snowball stemming.

The same choices as bm25s's defaults, so sleuth's BM25 scores match it to float precision.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import chain, compress

import numpy as np
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
        tokens, lengths = self.flat(texts)
        ends = np.cumsum(lengths).tolist()
        return [tokens[a:b] for a, b in zip([0, *ends[:-1]], ends)]

    def flat(self, texts: Iterable[str]) -> tuple[list[str], np.ndarray]:
        """Every text's tokens, one list end to end, and ``int64[n]`` how many each text has:
        the same tokens as calling the analyzer on each text, with its per-token work done
        once per distinct word for the whole batch (a bulk load's analysis)."""
        words = [_TOKEN.findall(t.lower()) for t in texts]
        counts = np.fromiter(map(len, words), np.int64, len(words))
        flat = list(chain.from_iterable(words))
        stop = self._stop
        kept = ~np.fromiter(map(stop.__contains__, flat), bool, len(flat))
        if not kept.all():
            flat = list(compress(flat, kept.tolist()))
        ends = np.cumsum(counts)
        kept_before = np.concatenate([[0], np.cumsum(kept, dtype=np.int64)])
        lengths = kept_before[ends] - kept_before[ends - counts]
        if self._stemmer is None:
            return flat, lengths
        stems = self._stems
        missing = [w for w in dict.fromkeys(flat) if w not in stems]
        stems.update(zip(missing, self._stemmer.stemWords(missing)))
        out = list(map(stems.__getitem__, flat))
        if len(stems) > 1_000_000:  # bound the cache on unbounded vocabularies
            stems.clear()
        return out, lengths
