"""The replayer (change log -> one delta every index takes its part of) and the index set
(open: load or rebuild; catch up; save only what changed), over a real store."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest

import sleuth
from sleuth.config import CollectionConfig, LateConfig, MuveraConfig
from sleuth.encoders import get_encoder
from sleuth.encoders.cache import EmbeddingCache
from sleuth.encoders.late import LateInteraction
from sleuth.indexes.replay import Replayer
from sleuth.indexes.set import IndexSet
from sleuth.store import Store

CONFIG = CollectionConfig(
    late=LateConfig(enabled=True, muvera=MuveraConfig(k_sim=2, d_proj=8, r_reps=2))
)
NAMES = ("bm25", "dense", "tokens", "muvera")


def items(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": f"i{i}", "text": f"word{i} shared", "n": i} for i in range(start, start + n)]


def test_the_delta_gives_each_index_the_changes_after_its_own_seq(tmp_path: Path) -> None:
    with sleuth.open(tmp_path / "c", encoder="hashing") as col:
        store = col.store
        s1 = col.add(items(3)).seq  # i0 i1 i2
        first = store.docnos_of(["i0", "i1", "i2"])
        s2 = col.upsert([{"id": "i1", "text": "changed"}]).seq  # upsert: delete + add
        s3 = col.add(items(1, start=9)).seq
        nine = store.docnos_of(["i9"])["i9"]
        assert col.delete(["i9"]) == 1  # added then deleted: never handed to an index
        last = store.last_seq()
        replayer = Replayer(store)
        delta = replayer.since(0)
        assert (delta.since, delta.seq) == (0, last) == (0, replayer.last_seq())

        def part(seq: int) -> tuple[list[int], list[str]]:
            removed, added = delta.after(seq)
            return removed.tolist(), [s.item.id for s in added]

        new_i1 = store.docnos_of(["i1"])["i1"]
        assert part(0) == ([first["i1"], nine], ["i0", "i2", "i1"])
        assert part(s1) == ([first["i1"], nine], ["i1"])
        assert [s.docno for s in delta.after(s1)[1]] == [new_i1]
        assert part(s2) == part(s3) == ([nine], [])
        assert part(last) == ([], [])
        # the same as reading the log again from each index's seq
        for seq in (s1, s2, s3):
            again = replayer.since(seq)
            assert [c.seq for c in again.changes] == [c.seq for c in delta.changes if c.seq > seq]
            assert again.after(seq)[0].tolist() == delta.after(seq)[0].tolist()
        with pytest.raises(ValueError, match="starts at"):
            replayer.since(s2).after(s1)  # a delta cannot serve an index older than it


def open_set(folder: Path) -> tuple[IndexSet, Store]:
    """An index set over a closed collection's folder, as ``Collection`` makes one."""
    store = Store(folder)
    encoder = get_encoder("hashing")
    late = LateInteraction(CONFIG.late, encoder)
    cache = EmbeddingCache(store, encoder, encoder.dim, CONFIG.text_fields, late)
    return IndexSet(folder / "index", store, cache, CONFIG, encoder.dim, late), store


def saved(folder: Path, name: str) -> Path:
    """What marks an index as saved: the manifest of its folder, or its one ``.npz`` file."""
    manifest = folder / "index" / name / "manifest.json"
    return manifest if manifest.exists() else folder / "index" / f"{name}.npz"


def stamps(folder: Path) -> dict[str, tuple[int, int]]:
    return {name: ((st := saved(folder, name).stat()).st_ino, st.st_mtime_ns) for name in NAMES}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    with sleuth.open(tmp_path / "c", encoder="hashing", config=CONFIG) as col:
        col.add(items(40))
    return tmp_path / "c"


def test_save_writes_only_the_indexes_that_changed(folder: Path) -> None:
    ix, store = open_set(folder)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ix.catch_up(None)
        assert ix.save() == 0  # the collection saved everything on close
        before = stamps(folder)
        (folder / "index" / "muvera.npz").unlink()
    finally:
        store.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing file starts empty, silently
        ix, store = open_set(folder)
    try:
        assert ix.index("muvera").seq == 0 and len(ix.index("muvera")) == 0
        ix.catch_up(None)
        assert len(ix.index("muvera")) == 40 and ix.seq == store.last_seq()
        assert ix.cache.encoded_texts == 0  # its FDEs come from the token index's vectors
        assert ix.unsaved() == store.last_seq()
        assert ix.save() == 1 and ix.save() == 0 and ix.unsaved() == 0
        after = stamps(folder)
        assert {n for n in NAMES if after[n] != before[n]} == {"muvera"}
    finally:
        store.close()


@pytest.mark.parametrize("damage", ["corrupt", "ahead"])
def test_a_corrupt_or_stale_file_is_rebuilt_with_a_warning(
    folder: Path, tmp_path: Path, damage: str
) -> None:
    with sleuth.open(folder, encoder="hashing") as col:
        want = [h.id for h in col.search("word7 shared", k=5)]
        info = col.info()["indexes"]
    path = folder / "index" / "tokens.npz"
    if damage == "corrupt":
        path.write_bytes(path.read_bytes()[:100])
        reason = "unreadable"
    else:  # the same collection with more writes: its file is ahead of this store
        with sleuth.open(tmp_path / "more", encoder="hashing", config=CONFIG) as more:
            more.add(items(50))
        path.write_bytes((tmp_path / "more" / "index" / "tokens.npz").read_bytes())
        reason = "ahead of the store"
    with pytest.warns(UserWarning, match=f"rebuilding the tokens index .*{reason}"):
        ix, store = open_set(folder)
    try:
        assert len(ix.index("tokens")) == 0 and len(ix.index("bm25")) == 40
        ix.catch_up(None)
        assert {n: ix.index(n).info() for n in NAMES} == info
        assert ix.save() == 1
    finally:
        store.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rebuilt and saved: no warning now
        with sleuth.open(folder, encoder="hashing") as col:
            assert [h.id for h in col.search("word7 shared", k=5)] == want


def test_a_widened_attribute_type_rebuilds_the_attribute_entry(tmp_path: Path) -> None:
    with sleuth.open(tmp_path / "c", encoder="hashing") as col:
        col.add([{"id": "a", "text": "x", "when": "2020-01-02T00:00:00Z"}])
        assert col.info()["attributes"] == {"when": "datetime"}
        col.add([{"id": "b", "text": "x", "when": "soon"}])  # not a date: widened to str
        assert col.info()["attributes"] == {"when": "str"}
        assert col.info()["attribute_columns"]["when"]["kind"] == "str"
        assert [h.id for h in col.search("x", where={"when": "soon"})] == ["b"]
        assert [h.id for h in col.search("x", where={"when": {"exists": True}})] == ["a", "b"]


def filtered(col: sleuth.Collection) -> list[str]:
    where = {"and": [{"n": {"gte": 25}}, {"not": {"n": 30}}]}
    return [h.id for h in col.search("shared", k=50, where=where, mode="lexical")]


def test_open_loads_the_attribute_table_and_parses_no_item(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sleuth.open(folder, encoder="hashing") as col:
        col.delete(["i27"])
        want = filtered(col)
    assert len(want) == 13 and saved(folder, "attributes").exists()
    parsed: list[int] = []
    items = Store.items
    monkeypatch.setattr(Store, "items", lambda s, docnos: parsed.extend(docnos) or items(s, docnos))
    monkeypatch.setattr(Store, "iter_items", lambda *a, **k: pytest.fail("open read every item"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        col = sleuth.open(folder, encoder="hashing")
    try:
        assert parsed == []  # nothing to catch up: no item was read to open
        assert filtered(col) == want
    finally:
        col.close()


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_the_attribute_file_is_built_again_when_missing_or_corrupt(
    folder: Path, damage: str
) -> None:
    with sleuth.open(folder, encoder="hashing") as col:
        col.upsert([{"id": "i26", "text": "word26 shared", "n": -1}])
        want = filtered(col)
    path = saved(folder, "attributes")
    if damage == "missing":  # as a collection written before the table was saved
        shutil.rmtree(path.parent)
    else:
        path.write_bytes(path.read_bytes()[:-50])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        col = sleuth.open(folder, encoder="hashing")
    messages = [str(w.message) for w in seen if issubclass(w.category, UserWarning)]
    if damage == "missing":
        assert messages == []  # silently, once
    else:
        assert len(messages) == 1 and "rebuilding the attributes index" in messages[0]
        assert "unreadable" in messages[0]
    try:
        assert filtered(col) == want and "i26" not in want
    finally:
        col.close()
    assert path.exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # built and saved: loaded as it is now
        with sleuth.open(folder, encoder="hashing") as col:
            assert filtered(col) == want
