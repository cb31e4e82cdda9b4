"""One suite every recommendation source passes (as implicit's shared test mixin does).

The data is a ring of 24 items in 4 blocks of 6 (block ``b`` holds items ``6b .. 6b+5``). Each
user walks forward around one block from some start, so every source has a right answer to
find: the item after a user's last one (sequential sources), the rest of the user's block
(item-to-item sources), the most walked items (popularity). Items' content vectors point the
way their block does, so content finds the block too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sleuth.recommend import (
    EASE,
    Batch,
    CoVisit,
    History,
    Interactions,
    ItemKNN,
    Popularity,
    Source,
)
from sleuth.recommend.content import Content
from sleuth.recommend.multi_interest import MultiInterest
from sleuth.types import Event

N_ITEMS, BLOCK, N_USERS, STEPS = 24, 6, 96, 5


def block_of(item: int) -> int:
    return item // BLOCK


def after(item: int) -> int:
    """The next item of a walk: forward around the item's block."""
    return block_of(item) * BLOCK + (item % BLOCK + 1) % BLOCK


def walk(user: int) -> list[int]:
    start = (user // 4) % BLOCK + (user % 4) * BLOCK
    out = [start]
    for _ in range(STEPS - 1):
        out.append(after(out[-1]))
    return out


def interactions() -> Interactions:
    users, items, ts = [], [], []
    for u in range(N_USERS):
        for s, i in enumerate(walk(u)):
            users.append(u)
            items.append(i)
            ts.append(1000.0 * u + s)
    return Interactions(
        [f"u{u}" for u in range(N_USERS)],
        [f"m{i}" for i in range(N_ITEMS)],
        np.array(users),
        np.array(items),
        np.ones(len(items), np.float32),
        np.array(ts),
    )


def history(items: list[int]) -> History:
    n = len(items)
    return History(np.array(items, np.int64), np.ones(n, np.float32), np.arange(n, dtype=float))


def content_vectors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    axes = np.eye(8, dtype=np.float32)
    return {
        f"m{i}": axes[block_of(i)] + 0.05 * rng.standard_normal(8).astype(np.float32)
        for i in range(N_ITEMS)
    }


def sasrec() -> Source:
    from sleuth.recommend.sequential import SASRec

    return SASRec(dim=32, blocks=1, max_len=8, epochs=60, patience=60, dropout=0.0, seed=0)


@dataclass(frozen=True)
class Case:
    make: Callable[[], Source]
    sequential: bool  # knows the order: ranks the next item first
    personal: bool  # ranks the rest of the user's block above every other block


CASES = {
    "popularity": Case(Popularity, sequential=False, personal=False),
    "item-knn": Case(ItemKNN, sequential=False, personal=True),
    "ease": Case(lambda: EASE(l2=1.0), sequential=False, personal=True),
    "co-visit": Case(lambda: CoVisit(window=1, recent=1), sequential=True, personal=False),
    "multi-interest": Case(
        lambda: MultiInterest(
            n_clusters=4,
            max_interests=1,
            vectors=np.eye(4)[[block_of(i) for i in range(N_ITEMS)]].astype(np.float32),
        ),
        sequential=False,
        personal=True,
    ),
    "content": Case(lambda: Content(content_vectors()), sequential=False, personal=True),
    "sasrec": Case(sasrec, sequential=True, personal=False),
}


@pytest.fixture(scope="module")
def data() -> Interactions:
    return interactions()


@pytest.fixture(scope="module", params=sorted(CASES))
def fitted(request: pytest.FixtureRequest, data: Interactions) -> tuple[Case, Source]:
    case = CASES[request.param]
    return case, case.make().fit(data)


QUERIES = [history([0, 1, 2]), history([13, 14]), history([20]), history([9, 10, 11, 6])]


def test_scores_every_item_for_each_history(fitted: tuple[Case, Source]) -> None:
    _, source = fitted
    scores = source.score(QUERIES)
    assert scores.shape == (len(QUERIES), N_ITEMS) and scores.dtype == np.float32
    assert not np.isnan(scores).any()


def test_a_batch_scores_as_its_histories_one_by_one(fitted: tuple[Case, Source]) -> None:
    _, source = fitted
    together = source.score(QUERIES)
    for row, h in enumerate(QUERIES):
        np.testing.assert_allclose(source.score([h])[0], together[row], rtol=1e-5, atol=1e-6)


def test_fitting_twice_gives_the_same_scores(
    fitted: tuple[Case, Source], data: Interactions
) -> None:
    case, source = fitted
    again = case.make().fit(data)
    np.testing.assert_allclose(again.score(QUERIES), source.score(QUERIES), rtol=1e-4, atol=1e-5)


def test_the_right_answer_ranks_where_it_should(fitted: tuple[Case, Source]) -> None:
    case, source = fitted
    for h in QUERIES:
        scores = source.score([h])[0].astype(np.float64)
        scores[h.items] = -np.inf  # seen items are left out by the service
        last = int(h.items[-1])
        if case.sequential:
            assert int(np.argmax(scores)) == after(last), (h.items, np.argsort(-scores)[:3])
        if case.personal:
            mine = [i for i in range(N_ITEMS) if block_of(i) == block_of(last)]
            mine = [i for i in mine if i not in set(h.items.tolist())]
            others = [i for i in range(N_ITEMS) if block_of(i) != block_of(last)]
            assert scores[mine].min() > scores[others].max(), h.items


def test_popularity_ranks_the_most_walked_items_first(data: Interactions) -> None:
    counts = np.bincount(data.items, minlength=N_ITEMS)
    skewed = Interactions(
        [*data.user_ids, "fan"],
        data.item_ids,
        np.concatenate([data.users, np.full(5, N_USERS)]),
        np.concatenate([data.items, np.full(5, 7)]),
        np.ones(len(data) + 5, np.float32),
        np.concatenate([data.ts, 1e9 + np.arange(5)]),
    )
    scores = Popularity().fit(skewed).score([history([])])[0]
    assert counts[7] + 5 > np.delete(counts, 7).max()  # 7 is now the most walked item
    assert int(np.argmax(scores)) == 7


def test_an_empty_history_is_scored_without_error(fitted: tuple[Case, Source]) -> None:
    _, source = fitted
    scores = source.score([history([])])
    assert scores.shape == (1, N_ITEMS) and not np.isnan(scores).any()


# -- serving: every source the service runs, through ``candidates`` on a batch -----------------
# Item ``m{i}`` has docno ``3 * i + 1`` in the catalog, so a source that confuses its own item
# codes with docnos fails; docnos in between are not items and never pass a mask.


def docno(item: int) -> int:
    return 3 * item + 1


class FakeCatalog:
    """A catalog of the ring's items: ids to docnos and the items' content vectors."""

    def __init__(self) -> None:
        from sleuth.config import DenseConfig
        from sleuth.indexes.dense import DenseIndex

        vectors = content_vectors()
        self.docnos = {f"m{i}": docno(i) for i in range(N_ITEMS)}
        self.size = docno(N_ITEMS)
        self.dense = DenseIndex(DenseConfig(), 8)
        self.dense.add(
            np.array([docno(i) for i in range(N_ITEMS)], np.int64),
            np.stack([vectors[f"m{i}"] for i in range(N_ITEMS)]),
        )

    def docnos_of(self, ids: Sequence[str]) -> dict[str, int]:
        return {i: self.docnos[i] for i in ids if i in self.docnos}

    def vector_of(self, docno: int) -> np.ndarray | None:
        return self.dense.vector_of(docno)

    def search_batch(self, queries: np.ndarray, k: int, mask: np.ndarray | None) -> Any:
        return self.dense.search_batch(queries, k, mask)

    def mask(self, seen: Sequence[int] = (), banned: Sequence[int] = ()) -> np.ndarray:
        out = np.zeros(self.size, bool)
        out[[docno(i) for i in range(N_ITEMS)]] = True
        out[[docno(i) for i in (*seen, *banned)]] = False
        return out


def events_of(items: Sequence[int], user: str = "q") -> list[Event]:
    return [Event(user=user, item=f"m{i}", ts=float(s)) for s, i in enumerate(items)]


def ring_events() -> list[Event]:
    return [
        Event(user=f"u{u}", item=f"m{i}", ts=1000.0 * u + s)
        for u in range(N_USERS)
        for s, i in enumerate(walk(u))
    ]


def trained_sequential(folder: Path) -> Source:
    from sleuth.recommend.trained import TrainedSequential

    options = {"dim": 32, "blocks": 1, "max_len": 8, "epochs": 30, "patience": 30, "seed": 0}
    # an ID table of 32 rows: the model learns 24 items, not 24 among a thousand free rows
    return TrainedSequential.train(folder, ring_events(), {}, capacity=32, dropout=0.0, **options)


SERVED = {  # name -> (is sequential, is personal)
    **{name: (case.sequential, case.personal) for name, case in CASES.items()},
    "content (catalog)": (False, True),
    "sequential (trained)": (True, False),
}
WALKS = [[0, 1, 2], [13, 14], [20], [9, 10, 11, 6]]


@pytest.fixture(scope="module")
def catalog() -> FakeCatalog:
    return FakeCatalog()


@pytest.fixture(scope="module", params=sorted(SERVED))
def served(
    request: pytest.FixtureRequest, data: Interactions, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Source]:
    name = request.param
    if name == "content (catalog)":
        return name, Content().fit(data)  # reads the catalog's vectors, not given ones
    if name == "sequential (trained)":
        return name, trained_sequential(tmp_path_factory.mktemp("models"))
    return name, CASES[name].make().fit(data)


def ask(
    source: Source,
    catalog: FakeCatalog,
    walks: Sequence[Sequence[int]],
    *,
    depth: int = 10,
    banned: Sequence[int] = (),
    exclude_seen: bool = True,
) -> list[Any]:
    masks = [catalog.mask(seen=w if exclude_seen else (), banned=banned) for w in walks]
    batch = Batch([events_of(w) for w in walks], masks, depth, exclude_seen, {}, catalog)
    return source.candidates(batch)


def test_candidates_are_sorted_finite_docnos_inside_each_mask(
    served: tuple[str, Source], catalog: FakeCatalog
) -> None:
    _, source = served
    banned = [5, 17, 23]  # a filter: never served, whatever the source thinks of them
    found = ask(source, catalog, WALKS, depth=7, banned=banned)
    assert len(found) == len(WALKS)
    for walk_, got in zip(WALKS, found):
        assert got is not None, walk_
        docnos, scores = got
        assert docnos.dtype == np.int64 and 0 < docnos.size <= 7
        assert np.isfinite(scores).all() and (np.diff(scores) <= 1e-6).all()
        allowed = catalog.mask(seen=walk_, banned=banned)
        assert allowed[docnos].all() and len(set(docnos.tolist())) == docnos.size


def test_seen_items_are_left_out_only_when_asked(
    served: tuple[str, Source], catalog: FakeCatalog
) -> None:
    name, source = served
    for walk_, (docnos, _) in zip(WALKS, ask(source, catalog, WALKS, depth=N_ITEMS)):
        assert not {docno(i) for i in walk_} & set(docnos.tolist())
    if SERVED[name][1]:  # a user's own block ranks first: seen items too, when they may
        walks = [w for w in WALKS if len(w) > 1]  # (item-to-item models skip an item itself)
        kept = ask(source, catalog, walks, depth=N_ITEMS, exclude_seen=False)
        for walk_, (docnos, _) in zip(walks, kept):
            assert {docno(i) for i in walk_} & set(docnos[:BLOCK].tolist()), (name, walk_)


def test_the_right_item_comes_first(served: tuple[str, Source], catalog: FakeCatalog) -> None:
    name, source = served
    sequential, personal = SERVED[name]
    for walk_, (docnos, _) in zip(WALKS, ask(source, catalog, WALKS, depth=N_ITEMS)):
        last = walk_[-1]
        if sequential:
            assert int(docnos[0]) == docno(after(last)), (name, walk_, docnos[:3])
        if personal:
            mine = {docno(i) for i in range(N_ITEMS) if block_of(i) == block_of(last)}
            mine -= {docno(i) for i in walk_}
            assert set(docnos[: len(mine)].tolist()) == mine, (name, walk_, docnos)


# the sources with a ``tops`` of their own (they serve from sparse scores)
OWN_TOPS = sorted(n for n, c in CASES.items() if type(c.make()).tops is not Source.tops)


@pytest.mark.parametrize("exclude_seen", [True, False])
@pytest.mark.parametrize("name", OWN_TOPS)
def test_a_sources_own_tops_are_those_of_its_scores(
    name: str, data: Interactions, exclude_seen: bool
) -> None:
    """A source that serves from sparse scores (co-visit, popularity) picks the same items in
    the same order as the best of its scores over every item (``Source.tops``)."""
    source = CASES[name].make().fit(data)
    queries = [*QUERIES, history([])]
    for depth in (1, 4, N_ITEMS):
        got = source.tops(queries, depth, exclude_seen=exclude_seen)
        want = Source.tops(source, queries, depth, exclude_seen=exclude_seen)
        for g, w in zip(got, want):
            assert (g is None) == (w is None)
            if g is not None and w is not None:
                assert g[0] == w[0]
                np.testing.assert_allclose(g[1], w[1], rtol=1e-5)


def test_a_user_without_history_gets_popularity_only(
    served: tuple[str, Source], catalog: FakeCatalog
) -> None:
    name, source = served
    (got,) = ask(source, catalog, [[]])
    if name == "popularity":
        assert got is not None and got[0].size == 10
    else:
        assert got is None or got[0].size == 0


def test_the_registry_serves_every_configured_source_under_its_own_name(
    data: Interactions,
) -> None:
    from sleuth.config import DEFAULT_SOURCE_WEIGHTS, RecommendConfig
    from sleuth.recommend.registry import LEARNED, ORDER, READY, TRAINED
    from sleuth.recommend.trained import TrainedSequential

    assert sorted(ORDER) == sorted(DEFAULT_SOURCE_WEIGHTS)
    config = RecommendConfig()
    for name, make in LEARNED.items():
        source = make(config, data)
        assert source is not None and source.name == name
    assert all(READY[name]().name == name for name in READY)
    assert (TrainedSequential.name,) == TRAINED
