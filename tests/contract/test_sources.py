"""One suite every recommendation source passes (as implicit's shared test mixin does).

The data is a ring of 24 items in 4 blocks of 6 (block ``b`` holds items ``6b .. 6b+5``). Each
user walks forward around one block from some start, so every source has a right answer to
find: the item after a user's last one (sequential sources), the rest of the user's block
(item-to-item sources), the most walked items (popularity). Items' content vectors point the
way their block does, so content finds the block too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from sleuth.recommend import EASE, CoVisit, History, Interactions, ItemKNN, Popularity, Source
from sleuth.recommend.content import Content
from sleuth.recommend.multi_interest import MultiInterest

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
