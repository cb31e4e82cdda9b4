"""The store's batch write: the item versions it hands to the catch-up are exactly what reading
them back gives, docnos and sequence numbers are never reused, and the change log keeps the
order of the batch."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sleuth.store import Store
from sleuth.types import parse_item

TEXT = ("title", "text")

values = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.booleans(),
    st.text(max_size=6),
    st.sampled_from(["2024-02-29", "2020-01-02T03:04:05+01:00", "ÉCOLE"]),
    st.datetimes(min_value=dt.datetime(1970, 1, 2), timezones=st.just(dt.UTC)),
    st.lists(st.text(max_size=4), max_size=3),
)
batches = st.lists(
    st.lists(
        st.tuples(
            st.integers(0, 12),  # the item's id: batches often touch the same items
            st.sampled_from(["a", "b", "c"]),  # its text (an upsert of another text updates)
            st.dictionaries(st.sampled_from(["n", "m", "when", "tags", "é"]), values, max_size=3),
        ),
        max_size=6,
        unique_by=lambda t: t[0],
    ),
    min_size=1,
    max_size=5,
)


def kind_stable(batch: list[tuple[int, str, dict[str, Any]]]) -> bool:
    """Whether the batch gives each attribute name values of one Python kind (the store then
    accepts it; which mixes it refuses is ``check_types``'s own test)."""
    kinds: dict[str, set[type]] = {}
    for _, _, attrs in batch:
        for name, value in attrs.items():
            kinds.setdefault(name, set()).add(type(value))
    return all(len(k) == 1 for k in kinds.values())


@settings(max_examples=40, deadline=None)
@given(batches=batches, deletes=st.lists(st.integers(0, 12), max_size=3))
def test_written_rows_are_what_the_store_reads_back(
    tmp_path_factory: Any, batches: list[list[tuple[int, str, dict[str, Any]]]], deletes: list[int]
) -> None:
    folder: Path = tmp_path_factory.mktemp("store")
    store = Store(folder)
    try:
        store.create({"format_version": 1})
        seen_docnos: set[int] = set()
        last_seq = 0
        for batch in batches:
            if not kind_stable(batch):
                continue
            items = [
                parse_item({"id": f"i{n}", "text": text, **attrs}, TEXT) for n, text, attrs in batch
            ]
            try:
                written = store.write(
                    [(it, f"h{it.fields['text']}") for it in items], [], must_be_new=False
                )
            except Exception as exc:  # an attribute that changes kind across batches
                assert "attribute" in str(exc)
                continue
            docnos = [s.docno for s in written.rows]
            assert not seen_docnos & set(docnos)  # never reused
            seen_docnos.update(docnos)
            assert written.result.seq >= last_seq
            last_seq = written.result.seq
            assert written.result.added + written.result.updated == len(written.rows)
            back = store.items(docnos)
            for stored in written.rows:
                assert back[stored.docno] == stored
                assert list(back[stored.docno].item.attributes) == list(stored.item.attributes)
            changes, seq = store.changes_since(0)
            assert seq == last_seq
            assert [c.seq for c in changes] == list(range(1, seq + 1))
        ids = [f"i{n}" for n in deletes]  # repeats included
        present = store.docnos_of(ids)
        before = store.last_seq()
        gone = store.write([], ids, must_be_new=False).result
        assert gone.deleted == len(present)
        assert store.last_seq() == before + len(present)
        changes, _ = store.changes_since(before)
        assert sorted((c.op, c.docno) for c in changes) == sorted(
            ("del", d) for d in present.values()
        )
        assert not store.docnos_of(ids)
    finally:
        store.close()
