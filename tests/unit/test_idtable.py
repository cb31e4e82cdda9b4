"""IdTable: zero collisions (also for ids crafted to share probes), admission, eviction policies,
ttl, persistence, and a hypothesis property over random observe sequences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sleuth.errors import CorruptIndex, InvalidInput
from sleuth.recommend.hashing import fingerprints
from sleuth.recommend.idtable import IdTable


def assert_consistent(table: IdTable) -> None:
    """Every live id owns exactly one row, no row has two ids, the counts agree."""
    ids = list(table._index)
    rows = table.lookup(ids)
    assert (rows >= 0).all()
    assert np.unique(rows).size == rows.size  # no two live ids on one row
    assert table.owners(rows) == ids
    assert len(table) == int(table._live.sum()) <= table.capacity
    assert sorted(rows.tolist()) == np.flatnonzero(table._live).tolist()


def colliding_ids(table: IdTable, n: int) -> list[str]:
    """``n`` ids whose first probe is the same row."""
    pool = [f"item-{i}" for i in range(40 * n * table.capacity // 8)]
    first = table.probe_rows(pool)[:, 0]
    crowd = [x for x, r in zip(pool, first.tolist()) if r == int(first[0])]
    assert len(crowd) >= n
    return crowd[:n]


# -- placement -------------------------------------------------------------------------------


def test_capacity_distinct_ids_fill_every_row_once() -> None:
    table = IdTable(capacity=1000, dim=4)
    ids = [f"user{i}" for i in range(1000)]
    rows = np.concatenate([table.observe(ids[i : i + 128], now=0.0) for i in range(0, 1000, 128)])
    assert sorted(rows.tolist()) == list(range(1000))
    np.testing.assert_array_equal(table.lookup(ids), rows)
    np.testing.assert_array_equal(table.observe(ids[::-1], now=1.0), rows[::-1])  # stable
    assert table.stats()["evicted"] == 0
    assert_consistent(table)


@pytest.mark.parametrize("batch", [1, 64])
def test_ids_sharing_their_first_probe_still_get_distinct_rows(batch: int) -> None:
    table = IdTable(capacity=64, dim=2, probes=2)
    crowd = colliding_ids(table, 64)
    rows = np.concatenate([table.observe(crowd[i : i + batch]) for i in range(0, 64, batch)])
    assert (rows >= 0).all()
    assert sorted(rows.tolist()) == list(range(64))
    assert table.stats()["fallbacks"] > 0  # the probes ran out and the free-row scan placed them
    assert table.owners(rows) == crowd
    assert_consistent(table)


def test_first_id_takes_its_first_probe() -> None:
    table = IdTable(capacity=1 << 16, dim=2)
    assert table.observe(["solo"]).item() == table.probe_rows(["solo"])[0, 0]


def test_fingerprints_do_not_depend_on_the_batch() -> None:
    alone = fingerprints(["ab"], seed=3)
    padded = fingerprints(["a much longer neighbour", "ab"], seed=3)
    assert alone[0] == padded[1]
    assert fingerprints(["ab"], seed=4)[0] != alone[0]
    assert fingerprints(["ab", "ba", "é", ""]).dtype == np.uint64
    assert np.unique(fingerprints([f"x{i}" for i in range(10_000)])).size == 10_000


# -- admission -------------------------------------------------------------------------------


def test_id_gets_a_row_only_at_its_nth_sighting() -> None:
    table = IdTable(capacity=8, dim=2, min_count=3)
    assert table.observe(["x"], now=0).item() == -1
    assert table.lookup(["x"]).item() == -1
    assert table.observe(["x"], now=1).item() == -1
    assert table.stats()["pending"] == 1
    row = table.observe(["x"], now=2).item()
    assert row >= 0
    assert table.lookup(["x"]).item() == row
    assert table.stats()["pending"] == 0
    rows = table.observe(["y", "y", "y", "y"], now=3).tolist()
    assert rows[:2] == [-1, -1]
    assert rows[2] == rows[3] >= 0
    assert table._count[rows[2]] == 4


def test_pending_counter_is_bounded_and_keeps_frequent_ids() -> None:
    table = IdTable(capacity=8, dim=2, min_count=50, max_pending=10)
    for t in range(5):
        table.observe(["hot"], now=t)
    for i in range(100):
        table.observe([f"cold{i}"], now=10 + i)
    assert table.stats()["pending"] <= 10
    assert table._pending["hot"][0] == 5


# -- eviction --------------------------------------------------------------------------------


def test_lru_evicts_the_least_recently_seen_and_reinitialises_its_row() -> None:
    table = IdTable(capacity=3, dim=8, policy="lru")
    for t, x in enumerate(["a", "b", "c", "a"]):
        table.observe([x], now=t)
    row_b = table.lookup(["b"]).item()
    table.embeddings[row_b] = 7.0
    row_d = table.observe(["d"], now=10).item()
    assert table.lookup(["b"]).item() == -1
    assert (table.lookup(["a", "c", "d"]) >= 0).all()
    assert table.last_reset.tolist() == [row_b]
    assert table.last_admitted.tolist() == [row_d]
    assert row_d == row_b  # the only free row
    assert not np.any(table.embeddings[row_b] == 7.0)
    assert 0 < np.abs(table.embeddings[row_b]).max() < 0.1  # a fresh N(0, 0.01²) draw
    assert table.stats()["evicted"] == 1
    assert_consistent(table)


def test_lfu_evicts_the_least_frequent() -> None:
    table = IdTable(capacity=3, dim=2, policy="lfu")
    table.observe(["a", "a", "a", "b", "c", "c"], now=0)
    table.observe(["b"], now=5)  # most recent, yet the rarest
    table.observe(["b"], now=6)
    table.observe(["d"], now=7)  # b: 3, a: 3, c: 2
    assert table.lookup(["c"]).item() == -1
    assert (table.lookup(["a", "b", "d"]) >= 0).all()


def test_rows_seen_in_the_same_call_are_never_evicted_by_it() -> None:
    table = IdTable(capacity=2, dim=2, policy="lfu")
    table.observe(["a", "b", "b"], now=0)
    row_a = table.lookup(["a"]).item()
    rows = table.observe(["a", "c", "d"], now=1)  # a is the rarest but in this batch
    assert rows[0] == row_a
    assert rows[1] >= 0 and rows[2] == -1  # no room left for d: it stays pending
    assert table.lookup(["b"]).item() == -1
    assert table._pending["d"][0] == 1
    assert_consistent(table)


def test_ttl_expires_stale_ids_and_pending_counts() -> None:
    table = IdTable(capacity=4, dim=2, min_count=2, ttl=10)
    table.observe(["a", "a", "p"], now=0)
    table.observe(["b", "b"], now=5)
    table.observe(["q"], now=8)
    row_a = table.lookup(["a"]).item()
    assert table.evict_expired(now=12).tolist() == [row_a]
    assert table.lookup(["a", "b"]).tolist()[0] == -1
    assert table.lookup(["b"]).item() >= 0
    assert set(table._pending) == {"q"}
    assert table.evict_expired(now=100).size == 1
    assert len(table) == 0
    with pytest.raises(InvalidInput, match="ttl"):
        IdTable(capacity=4, dim=2).evict_expired(now=1)


def test_evict_and_remove_on_demand() -> None:
    table = IdTable(capacity=4, dim=2)
    for t, x in enumerate("abcd"):
        table.observe([x], now=t)
    assert table.owners(table.evict(2)) == [None, None]
    assert table.lookup(list("abcd")).tolist()[:2] == [-1, -1]
    assert table.remove(["c", "zz"]).size == 1
    assert list(table._index) == ["d"]


# -- persistence and interop -----------------------------------------------------------------


def run_ops(table: IdTable, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    out = []
    for t in range(40):
        ids = [f"i{k}" for k in rng.integers(0, 30, size=5)]
        out.append(table.observe(ids, now=float(t)).tolist())
    return out


def test_save_load_round_trip_is_exact(tmp_path: Path) -> None:
    table = IdTable(capacity=10, dim=3, min_count=2, policy="lfu", ttl=5.0, seed=9)
    run_ops(table, seed=1)
    table.evict_expired(now=38)
    table.save(tmp_path / "ids.npz")
    loaded = IdTable.load(tmp_path / "ids.npz")
    (m1, a1), (m2, a2) = table.state_dict(), loaded.state_dict()
    assert m1 == m2
    assert a1.keys() == a2.keys()
    for name in a1:
        np.testing.assert_array_equal(a1[name], a2[name], err_msg=name)
    assert loaded.stats() == table.stats()
    # it carries on identically, random re-initialisation included
    assert run_ops(loaded, seed=2) == run_ops(table, seed=2)
    np.testing.assert_array_equal(loaded.embeddings, table.embeddings)
    assert list(tmp_path.iterdir()) == [tmp_path / "ids.npz"]  # no temporary file left


def test_load_rejects_a_damaged_file(tmp_path: Path) -> None:
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(CorruptIndex):
        IdTable.load(tmp_path / "bad.npz")


def test_torch_embedding_shares_memory() -> None:
    torch = pytest.importorskip("torch")
    table = IdTable(capacity=4, dim=3)
    emb = table.torch_embedding()
    row = table.observe(["a"]).item()
    with torch.no_grad():
        emb.weight[row] = 5.0
    assert (table.embeddings[row] == 5.0).all()
    table.reinit_rows([row])
    assert torch.equal(emb.weight[row], torch.from_numpy(table.embeddings[row]))


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"capacity": 0}, "capacity"),
        ({"capacity": -3}, "capacity"),
        ({"policy": "fifo"}, "allowed: lfu, lru"),
        ({"probes": 0}, "probes"),
        ({"min_count": 0}, "min_count"),
        ({"dim": 0}, "dim"),
        ({"ttl": 0}, "ttl"),
    ],
)
def test_bad_arguments_are_invalid_input(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"capacity": 4, "dim": 2, **kwargs}
    with pytest.raises(InvalidInput, match=message):
        IdTable(**args)  # type: ignore[arg-type]


def test_bad_ids_are_invalid_input() -> None:
    table = IdTable(capacity=4, dim=2)
    with pytest.raises(InvalidInput, match="one string"):
        table.observe("abc")
    table.observe(["a"], now=0)
    before = table.state_dict()
    with pytest.raises(InvalidInput, match="strings"):
        table.observe(["a", "b", 3], now=1)  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="strings"):
        table.lookup([["unhashable"]])  # type: ignore[list-item]
    assert table.state_dict()[0] == before[0]  # nothing counted on the way to the error
    assert table._count[table.lookup(["a"])].item() == 1
    with pytest.raises(InvalidInput, match="rows"):
        table.reinit_rows([4])


# -- property --------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    capacity=st.integers(1, 6),
    min_count=st.integers(1, 3),
    policy=st.sampled_from(["lru", "lfu"]),
    steps=st.lists(
        st.tuples(
            st.lists(st.sampled_from([f"id{i}" for i in range(12)]), max_size=8),
            st.booleans(),
        ),
        max_size=25,
    ),
)
def test_random_observe_sequences_never_share_a_row(
    capacity: int, min_count: int, policy: str, steps: list[tuple[list[str], bool]]
) -> None:
    table = IdTable(capacity=capacity, dim=2, min_count=min_count, policy=policy, ttl=3)
    for t, (ids, expire) in enumerate(steps):
        before = table.owners(np.arange(capacity))
        rows = table.observe(ids, now=float(t))
        evicted = {before[r] for r in table.last_reset.tolist()}
        assert None not in evicted
        assert table.lookup(sorted(evicted)).tolist() == [-1] * len(evicted)
        after = table.lookup(ids)
        given_row = rows >= 0
        np.testing.assert_array_equal(rows[given_row], after[given_row])
        assert np.unique(rows[given_row]).size == len(set(np.array(ids)[given_row].tolist()))
        if expire:
            table.evict_expired(now=float(t))
        assert_consistent(table)
