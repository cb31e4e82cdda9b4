"""BM25 (Lucene variant, as bm25s) with incremental adds and deletes.

Postings live in three term-major (CSC) segments: ``main``, ``mid`` holding rows added since the
last merge, and a small ``delta`` holding at most ``_SMALL`` rows added since ``mid`` was last
built; adds rebuild only the delta (so a small write costs the same at any size), deletes are
tombstones. Scores are computed at query time from term frequencies, so IDF and average length
are always those of the live collection (exactly bm25s's scores after any sequence of writes).
Mid and delta merge into main once they exceed an eighth of it; a merge also drops dead rows
when they are over a quarter. A save writes main's and mid's postings, so a load reads them
(memory-mapped); main is written once per merge, the rows are appended, and only mid, the
live mask and the document frequencies are written whole (see ``sleuth.indexes.segments``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from sleuth.config import BM25Config
from sleuth.errors import CorruptIndex
from sleuth.indexes._bm25_kernel import search_kernel
from sleuth.indexes.base import Growable, Index, pack_strings, unpack_strings
from sleuth.indexes.bm25_stats import BM25Stats, idf_of, length_norm
from sleuth.indexes.segments import new_token
from sleuth.indexes.tokenize import Analyzer
from sleuth.types import Candidates

__all__ = ["Analyzed", "BM25Index"]

_EMPTY = (np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32))
_NO_WEIGHTS = np.zeros(0, np.float32)
_SMALL = 4096  # rows in the delta before it is folded into mid
_REWEIGH_AFTER = 32  # queries weighed on the fly before main's weights are computed again


@dataclass(frozen=True)
class Analyzed:
    """Analyzed documents (``Analyzer.coded``): the batch's distinct terms, ``int64[total]``
    every token's code into them end to end, and ``int64[n]`` tokens per document."""

    terms: list[str]
    codes: np.ndarray
    lengths: np.ndarray

    def __len__(self) -> int:
        return int(self.lengths.size)


class BM25Index(Index):
    """Documents are texts; rows are their analyzed terms."""

    kind = "bm25"
    required = ("fwd_ptr", "fwd_terms", "fwd_tfs", "row_len")
    compact_above = None  # dead rows are dropped when the delta merges (see the module doc)
    segmented = True

    def __init__(self, config: BM25Config) -> None:
        super().__init__()
        self.config = config
        self.analyzer = Analyzer(config.stemmer, config.stopwords)
        self.vocab: dict[str, int] = {}
        self.df = Growable(np.int64)
        self.fwd_ptr = Growable(np.int64, data=np.zeros(1, np.int64))
        self.fwd_terms = Growable(np.int32)
        self.fwd_tfs = Growable(np.float32)
        self.row_len = Growable(np.float32)
        self.total_len = 0.0
        self.main: tuple[np.ndarray, np.ndarray, np.ndarray] = _EMPTY
        self.main_rows = 0
        self.mid: tuple[np.ndarray, np.ndarray, np.ndarray] = _EMPTY
        self.mid_rows = 0  # the delta's rows start here
        self.delta: tuple[np.ndarray, np.ndarray, np.ndarray] = _EMPTY
        self._idf: np.ndarray | None = None
        self._main_w: np.ndarray | None = None  # main's idf × normalized tf per posting
        self._unweighted = 0  # queries answered since ``_main_w`` went out of date
        self._row_norm: np.ndarray | None = None  # k1 (1 - b + b len / avgdl) per row
        # tokens of the saved arrays (see ``segments``): the vocabulary only grows; main and
        # mid are each replaced whole when rebuilt
        self._vocab_token = new_token()
        self._main_token = new_token()
        self._mid_token = new_token()

    # -- writes ------------------------------------------------------------------------------

    def _prepare(self, documents: list[str]) -> Analyzed:
        return Analyzed(*self.analyzer.coded(documents))  # the slow part: outside the write lock

    def _append(self, docnos: np.ndarray, analyzed: Analyzed) -> None:
        self._add_rows(docnos)
        vocab = self.vocab
        new = analyzed.terms  # new ones numbered in order of first occurrence
        known = np.fromiter((vocab.setdefault(t, len(vocab)) for t in new), np.int64, len(new))
        ids = known[analyzed.codes]
        # (row, term) pairs counted in one sort: each row's distinct terms and frequencies
        width = max(len(vocab), 1)
        rows = np.repeat(np.arange(len(analyzed), dtype=np.int64), analyzed.lengths)
        pairs, tfs = np.unique(rows * width + ids, return_counts=True)
        terms = (pairs % width).astype(np.int32)
        per_row = np.bincount(pairs // width, minlength=len(analyzed))
        self.fwd_ptr.extend(self.fwd_ptr.view[-1] + np.cumsum(per_row))
        self.fwd_terms.extend(terms)
        self.fwd_tfs.extend(tfs.astype(np.float32))
        self.row_len.extend(analyzed.lengths.astype(np.float32))
        self.total_len += float(analyzed.lengths.sum())
        if self.df.size < len(vocab):
            self.df.extend(np.zeros(len(vocab) - self.df.size, np.int64))
        self.df.view[:] += np.bincount(terms, minlength=len(vocab))
        self._idf = self._main_w = self._row_norm = None
        self._unweighted = 0
        if self.n_rows - self.main_rows > max(2048, self.main_rows // 8):
            self._merge()
        elif self.n_rows - self.mid_rows > _SMALL:
            self.mid = self._postings(self.main_rows, self.n_rows)
            self.mid_rows = self.n_rows
            self._mid_token = new_token()
            self.delta = _EMPTY
        else:
            self.delta = self._postings(self.mid_rows, self.n_rows)

    def _forget(self, rows: np.ndarray) -> None:
        ptr, terms = self.fwd_ptr.view, self.fwd_terms.view
        for r in rows.tolist():
            self.df.view[terms[ptr[r] : ptr[r + 1]]] -= 1
            self.total_len -= float(self.row_len.view[r])
        self._idf = self._main_w = self._row_norm = None
        self._unweighted = 0

    def _postings(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSC postings (term -> rows, tfs) for rows [start, stop), row numbers global."""
        if stop <= start:
            return _EMPTY
        ptr = self.fwd_ptr.view[start : stop + 1]
        lo, hi = int(ptr[0]), int(ptr[-1])
        csr = sp.csr_matrix(
            (self.fwd_tfs.view[lo:hi], self.fwd_terms.view[lo:hi], ptr - lo),
            shape=(stop - start, len(self.vocab)),
        )
        csc = csr.tocsc()
        csc.sort_indices()
        return csc.indptr.astype(np.int64), (csc.indices + start).astype(np.int32), csc.data

    def _merge(self) -> None:
        if self.dead_fraction() > 0.25:
            self.compact()
        self.main = self._postings(0, self.n_rows)
        self.main_rows = self.mid_rows = self.n_rows
        self.mid = _EMPTY
        self._main_token, self._mid_token = new_token(), new_token()
        self._main_w = self._row_norm = None
        self._unweighted = 0
        self.delta = _EMPTY

    def _keep(self, live: np.ndarray) -> None:
        ptr = self.fwd_ptr.view
        counts = (ptr[live + 1] - ptr[live]).astype(np.int64)
        keep = np.repeat(self.row_live.view, np.diff(ptr))  # postings of live rows
        terms, tfs = self.fwd_terms.view[keep], self.fwd_tfs.view[keep]
        self.fwd_ptr = Growable(np.int64, data=np.concatenate([[0], np.cumsum(counts)]))
        self.fwd_terms = Growable(np.int32, data=terms)
        self.fwd_tfs = Growable(np.float32, data=tfs)
        self.row_len = Growable(np.float32, data=self.row_len.view[live])

    # -- reads -------------------------------------------------------------------------------

    def idf(self) -> np.ndarray:
        if self._idf is None:
            self._idf = idf_of(len(self), self.df.view)
        return self._idf

    def statistics(self, queries: list[str]) -> BM25Stats:
        """This index's BM25 statistics, with the document frequencies of the queries' terms
        that it knows (a sharded search sums them over the shards: ``search_batch(stats=)``)."""
        terms = {t for q in queries for t in self.analyzer(q) if t in self.vocab}
        df = self.df.view
        return BM25Stats(len(self), self.total_len, {t: int(df[self.vocab[t]]) for t in terms})

    def query_terms(self, query: str) -> np.ndarray:
        """int32 term ids of the query's tokens that the collection knows (repeats kept)."""
        ids = [self.vocab.get(tok, -1) for tok in self.analyzer(query)]
        return np.asarray([i for i in ids if i >= 0], np.int32)

    def search_batch(
        self,
        queries: list[str],
        k: int,
        docno_mask: np.ndarray | None = None,
        stats: BM25Stats | None = None,
    ) -> Candidates:
        """Top ``k`` docnos per query among items containing a query term (and passing the mask).
        ``stats``: score with these statistics (a sharded collection's sums over its shards,
        holding the queries' terms) instead of this index's own."""
        nq = len(queries)
        out = Candidates.empty(nq, k)
        if len(self) == 0 or nq == 0:
            return out
        terms = [self.query_terms(q) for q in queries]
        q_ptr = np.concatenate([[0], np.cumsum([t.size for t in terms])]).astype(np.int64)
        q_terms = np.concatenate(terms) if q_ptr[-1] else np.zeros(0, np.int32)
        rows = np.full((nq, k), -1, np.int64)
        scores = np.full((nq, k), -np.inf, np.float32)
        if stats is None:
            norm, idf = self._norm(), self.idf()
            weights = self._main_weights(norm, nq)
        else:  # main's precomputed weights hold this index's own IDF and lengths
            norm = length_norm(self.row_len.view, stats.total_len, stats.n, self.config)
            idf, weights = self._idf_given(stats), None
        search_kernel(
            self.main[0],
            self.main[1],
            _NO_WEIGHTS if weights is None else weights,
            self.main[2],
            weights is not None,
            *self.mid,
            *self.delta,
            idf,
            norm,
            self.allowed_rows(docno_mask),
            q_ptr,
            q_terms,
            k,
            rows,
            scores,
        )
        docnos = np.where(rows >= 0, self.row_docno.view[np.maximum(rows, 0)], -1)
        return Candidates(docnos, scores)

    def _norm(self) -> np.ndarray:
        """k1 (1 - b + b len / avgdl) per row, from the live collection's average length;
        cached until the next write, so a search does not redo it for every row."""
        if self._row_norm is None:
            self._row_norm = length_norm(self.row_len.view, self.total_len, len(self), self.config)
        return self._row_norm

    def _idf_given(self, stats: BM25Stats) -> np.ndarray:
        """The IDF per term id from ``stats`` (0 for the terms it does not hold: the kernel
        reads only the queries' terms, which it holds)."""
        known = [(self.vocab[t], df) for t, df in stats.df.items() if t in self.vocab]
        idf = np.zeros(len(self.vocab), np.float32)
        if known:
            ids, df = np.array(known, np.int64).T
            idf[ids] = idf_of(stats.n, df)
        return idf

    def _main_weights(self, norm: np.ndarray, queries: int) -> np.ndarray | None:
        """Main's idf × tf / (tf + norm) per posting, cached until the next write; None while
        the queries since that write are fewer than ``_REWEIGH_AFTER`` (the kernel then weighs
        the postings it reads).

        Precomputing whole scores as bm25s does halves query time; a write invalidates them
        (IDF and average length move), and recomputing them is one pass over every posting of
        main: paid by the first search after each write, it grew with the collection.
        """
        if self._main_w is None and self._unweighted < _REWEIGH_AFTER:
            self._unweighted += queries
            return None
        if self._main_w is None:
            ptr, rows, tfs = self.main
            terms = np.repeat(np.arange(ptr.shape[0] - 1), np.diff(ptr))
            idf = self.idf()[terms] if terms.size else np.zeros(0, np.float32)
            self._main_w = (idf * tfs / (tfs + norm[rows])).astype(np.float32)
        return self._main_w

    def info(self) -> dict[str, Any]:
        return {"rows": self.n_rows, "live": len(self), "terms": len(self.vocab)}

    # -- persistence -------------------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        return {"config": self.config.to_dict()}

    def _tokens(self) -> dict[str, str]:
        rows = {name: self.rows_token for name in ("fwd_ptr", "fwd_terms", "fwd_tfs", "row_len")}
        main = {f"main_{part}": self._main_token for part in ("ptr", "rows", "tfs")}
        mid = {f"mid_{part}": self._mid_token for part in ("ptr", "rows", "tfs")}
        vocab = {"vocab_blob": self._vocab_token, "vocab_offsets": self._vocab_token}
        return {**rows, **main, **mid, **vocab}

    def _payload(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        # main's postings and df too, so loading reads them instead of inverting every row
        blob, offsets = pack_strings(list(self.vocab))
        arrays = {
            "vocab_blob": blob,
            "vocab_offsets": offsets,
            "fwd_ptr": self.fwd_ptr.view,
            "fwd_terms": self.fwd_terms.view,
            "fwd_tfs": self.fwd_tfs.view,
            "row_len": self.row_len.view,
            "df": self.df.view,
            "main_ptr": self.main[0],
            "main_rows": self.main[1],
            "main_tfs": self.main[2],
            "mid_ptr": self.mid[0],
            "mid_rows": self.mid[1],
            "mid_tfs": self.mid[2],
        }
        tokens = {"vocab": self._vocab_token, "main": self._main_token, "mid": self._mid_token}
        return {"main_n": self.main_rows, "mid_n": self.mid_rows, "tokens": tokens}, arrays

    def _restore(self, path: Path, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        vocab = _vocabulary(path, manifest, arrays)
        _check_shapes(path, arrays, len(vocab))
        self.vocab = {tok: i for i, tok in enumerate(vocab)}
        tokens = manifest.get("tokens")
        if isinstance(tokens, dict):  # what a saved folder's arrays were saved under
            self._vocab_token = str(tokens.get("vocab"))
            self._main_token, self._mid_token = str(tokens.get("main")), str(tokens.get("mid"))
        self.fwd_ptr = Growable(np.int64, data=arrays["fwd_ptr"])
        self.fwd_terms = Growable(np.int32, data=arrays["fwd_terms"])
        self.fwd_tfs = Growable(np.float32, data=arrays["fwd_tfs"])
        self.row_len = Growable(np.float32, data=arrays["row_len"])
        live = self.row_live.view
        self.total_len = float(self.row_len.view[live].sum())
        main_n, mid_n = manifest.get("main_n"), manifest.get("mid_n")
        n_terms = len(self.vocab)
        if (
            isinstance(main_n, int)
            and isinstance(mid_n, int)
            and 0 <= main_n <= mid_n <= self.n_rows
            and _saved_segment(arrays, "main", 0, main_n, n_terms)
            and _saved_segment(arrays, "mid", main_n, mid_n, n_terms)
            and arrays["df"].shape == (n_terms,)
            and arrays["df"].dtype == np.int64
        ):
            self.df = Growable(np.int64, data=arrays["df"])
            self.main = (arrays["main_ptr"], arrays["main_rows"], arrays["main_tfs"])
            self.mid = (arrays["mid_ptr"], arrays["mid_rows"], arrays["mid_tfs"])
            self.main_rows, self.mid_rows = main_n, mid_n
            self.delta = self._postings(self.mid_rows, self.n_rows)
            return
        # a file of an earlier sleuth (or inconsistent main postings): invert the rows again
        self.outdated = True
        per_row = np.diff(self.fwd_ptr.view)
        live_terms = self.fwd_terms.view[np.repeat(live, per_row)]
        self.df = Growable(np.int64, data=np.bincount(live_terms, minlength=len(self.vocab)))
        self._merge()


def _vocabulary(path: Path, manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> list[str]:
    """The terms in id order: packed arrays (a saved folder) or a manifest list (a ``.npz``
    of an earlier sleuth)."""
    if isinstance(manifest.get("vocab"), list):
        return list(manifest["vocab"])
    try:
        blob, offsets = arrays["vocab_blob"], arrays["vocab_offsets"]
        if offsets.dtype != np.int64 or offsets.ndim != 1 or int(offsets[-1]) != blob.size:
            raise ValueError("offsets do not match the blob")
        return unpack_strings(blob, offsets)
    except (KeyError, ValueError, IndexError) as exc:
        raise CorruptIndex(f"{path}: BM25 vocabulary missing or damaged ({exc})") from None


def _saved_segment(
    arrays: dict[str, np.ndarray], name: str, start: int, stop: int, n_terms: int
) -> bool:
    """Whether the file holds segment ``name``'s postings of rows [start, stop), consistent
    with the vocabulary (an earlier sleuth saved none: they are built again)."""
    keys = (f"{name}_ptr", f"{name}_rows", f"{name}_tfs")
    if not set(keys) <= arrays.keys():
        return False
    ptr, rows, tfs = (arrays[key] for key in keys)
    return bool(
        ptr.ndim == 1
        and 1 <= ptr.size <= n_terms + 1
        and ptr.dtype == np.int64
        and int(ptr[0]) == 0
        and int(ptr[-1]) == rows.size == tfs.size
        and bool((np.diff(ptr) >= 0).all())
        and rows.dtype == np.int32
        and tfs.dtype == np.float32
        and (rows.size == 0 or start <= int(rows.min()) <= int(rows.max()) < stop)
    )


def _check_shapes(path: Path, arrays: dict[str, np.ndarray], n_terms: int) -> None:
    ptr, terms = arrays["fwd_ptr"], arrays["fwd_terms"]
    rows = ptr.shape[0] - 1
    ok = (
        rows >= 0
        and int(ptr[-1]) == terms.shape[0] == arrays["fwd_tfs"].shape[0]
        and all(arrays[a].shape[0] == rows for a in ("row_len", "row_docno", "row_live"))
        and (terms.shape[0] == 0 or 0 <= int(terms.min()) <= int(terms.max()) < n_terms)
    )
    if not ok:
        raise CorruptIndex(f"{path}: BM25 arrays are inconsistent", path=str(path))
