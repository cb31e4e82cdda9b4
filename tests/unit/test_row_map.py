"""Row bookkeeping (docno -> live row) is arrays, not a dict of every row: against a dict kept
alongside, under random adds (in and out of docno order), removals, compactions and a save and
load, every docno finds its live row or -1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sleuth.config import DenseConfig
from sleuth.indexes.dense import DenseIndex

DIM = 4
PROBE = np.arange(-2, 80, dtype=np.int64)  # every docno used, and some never used


def make() -> DenseIndex:
    return DenseIndex(DenseConfig(exact_threshold=10_000), DIM)


def vectors(docnos: list[int]) -> np.ndarray:
    out = np.zeros((len(docnos), DIM), np.float32)
    out[:, 0] = docnos  # the vector says which docno it belongs to
    return out


def check(index: DenseIndex, live: set[int]) -> None:
    rows = index.docno_row.rows_of(PROBE)
    found = rows >= 0
    assert set(PROBE[found].tolist()) == live
    assert (index.row_docno.view[rows[found]] == PROBE[found]).all()
    assert index.row_live.view[rows[found]].all()
    assert len(index) == len(index.docno_row) == len(live)
    assert sorted(index.docno_row) == sorted(live)
    for docno in (0, 5, 79):
        got = index.vector_of(docno)
        assert (got is None) == (docno not in live)
        assert got is None or got[0] == docno


OPS = st.lists(
    st.tuples(
        st.sampled_from(["add", "add_sorted", "remove", "compact"]),
        st.lists(st.integers(0, 79), max_size=12, unique=True),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(ops=OPS)
def test_rows_match_a_dict_of_live_docnos(ops: list[tuple[str, list[int]]]) -> None:
    index, live = make(), set[int]()
    for op, docnos in ops:
        if op.startswith("add"):
            new = [d for d in docnos if d not in live]  # as the change log: never live twice
            if op == "add_sorted":
                new.sort()
            index.add(np.array(new, np.int64), vectors(new))
            live |= set(new)
        elif op == "remove":
            index.remove(np.array(docnos, np.int64))
            live -= set(docnos)
        else:
            index.compact()
        check(index, live)


def test_save_and_load_keep_the_rows(tmp_path: Path) -> None:
    index = make()
    index.add(np.array([9, 3, 40, 7]), vectors([9, 3, 40, 7]))  # out of docno order
    index.remove(np.array([3]))
    index.add(np.array([3, 50]), vectors([3, 50]))  # 3 again: a new row for it
    path = tmp_path / "dense.npz"
    index.save(path)
    loaded = DenseIndex.load(path, DenseConfig(exact_threshold=10_000), DIM)
    assert loaded is not None
    check(loaded, {9, 3, 40, 7, 50})
    assert loaded.docno_row[3] == index.docno_row[3] == 3  # after the compaction the remove made
    assert 3 in loaded.docno_row and 4 not in loaded.docno_row
    loaded.remove(np.array([3, 3, 999]))  # twice in one call, and unknown: one row dies
    check(loaded, {9, 40, 7, 50})
