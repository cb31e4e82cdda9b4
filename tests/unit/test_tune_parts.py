"""The parts of label-free tuning that need no model: settings, pseudo-queries, mining with
its guide's veto, the loss's mask, and early stopping."""

from __future__ import annotations

import numpy as np
import pytest

from sleuth.errors import InvalidInput
from sleuth.tune import TuneConfig
from sleuth.tune.loss import batch_mask
from sleuth.tune.pairs import Doc, Lists, Query, crop, docs_of, mine, pseudo_queries
from sleuth.tune.train import _stalled
from sleuth.types import Item


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"minutes": 0}, "minutes"),
        ({"minutes": -1.0}, "minutes"),
        ({"epochs": 0}, "epochs"),
        ({"sources": ("titles", "nope")}, "sources"),
        ({"sources": ()}, "sources"),
        ({"sources": "titles"}, "sources"),
        ({"sources": ("titles", "titles")}, "sources"),
        ({"batch_size": 1}, "batch_size"),
        ({"anchor": -0.5}, "anchor"),
        ({"documents": "no"}, "documents"),
    ],
)
def test_bad_settings_name_the_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        TuneConfig.of(**options)
    assert field in err.value.message


def test_an_unknown_setting_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="known: minutes"):
        TuneConfig.of(learning_rte=1e-5)


def test_the_checkpoint_key_ignores_the_budget() -> None:
    assert TuneConfig(minutes=1).training_key() == TuneConfig(minutes=90).training_key()
    assert TuneConfig(seed=1).training_key() != TuneConfig(seed=2).training_key()


def test_docs_split_title_and_body() -> None:
    items = [
        Item(id="a", fields={"title": "T", "text": "body words"}),
        Item(id="b", fields={"text": "only body"}),
    ]
    a, b = docs_of(items, ("title", "text"))
    assert (a.title, a.body, a.text) == ("T", "body words", "T body words")
    assert (b.title, b.body) == ("", "only body")
    (single,) = docs_of(items[:1], ("text",))
    assert single.title == "" and single.body == "body words"


def test_a_crop_is_cut_out_of_the_text() -> None:
    words = [f"w{i}" for i in range(60)]
    rng = np.random.default_rng(0)
    for _ in range(50):
        span, rest = crop(" ".join(words), rng)
        cut = span.split()
        assert 8 <= len(cut) <= 20
        start = words.index(cut[0])
        assert cut == words[start : start + len(cut)]
        assert rest.split() == words[:start] + words[start + len(cut) :]
    assert crop("too short a text", rng) is None


def test_pseudo_queries_are_seeded() -> None:
    docs = [Doc(str(i), f"title of doc {i}", " ".join(["x"] * 40), "") for i in range(5)]
    docs = [Doc(d.id, d.title, d.body, f"{d.title} {d.body}") for d in docs]
    one = pseudo_queries(docs, ("titles", "crops"), seed=3)
    assert one == pseudo_queries(docs, ("titles", "crops"), seed=3)
    assert {q.kind for q in one} == {"titles", "crops"}
    assert all(q.positive == docs[int(q.item)].body for q in one if q.kind == "titles")
    assert [q.kind for q in pseudo_queries(docs, ("titles",), seed=3)] == ["titles"] * 5


def _q(item: str, kind: str = "crops") -> Query:
    return Query(f"query of {item}", kind, item, f"text of {item}")


def test_disagreement_takes_the_negative_from_the_retriever_that_missed() -> None:
    # lexical ranks the item second; dense misses it, preferring d1, d2
    lists = Lists(lexical=[["d1", "a"]], dense=[["d1", "d2"]])
    pairs, counts = mine([_q("a")], lists, ["disagreement", "crops"], 10, 0, set())
    (pair,) = pairs
    # d1 is above "a" in the lexical list too: the lexical guide vetoes it
    assert (pair.source, pair.negative) == ("disagreement", "d2")
    assert counts["vetoed_negatives"] == 1


def test_without_disagreement_the_pair_keeps_its_kind() -> None:
    lists = Lists(lexical=[["a", "d1"]], dense=[["d1", "d2"]])
    (pair,), _ = mine([_q("a")], lists, ["crops"], 10, 0, set())
    assert pair.source == "crops"
    # both guides: lexical found "a" first (vetoes nothing below it); dense missed it (no veto)
    assert pair.negative == "d1"


def test_agreeing_retrievers_are_not_a_disagreement() -> None:
    lists = Lists(lexical=[["d1", "a"]], dense=[["d2", "a", "d1"]])
    (pair,), counts = mine([_q("a")], lists, ["disagreement", "crops"], 10, 0, set())
    assert counts["candidates_disagreement"] == 0
    # d1 and d2 are each above "a" in a list that found it: vetoed; nothing is left
    assert pair.source == "crops" and pair.negative is None


def test_held_out_items_are_never_negatives() -> None:
    lists = Lists(lexical=[["a", "h", "d"]], dense=[["a", "h", "d"]])
    (pair,), _ = mine([_q("a")], lists, ["crops"], 10, 0, {"h"})
    assert pair.negative == "d"


def test_shares_are_even_and_unused_shares_move_on() -> None:
    queries = [_q(f"t{i}", "titles") for i in range(10)] + [_q(f"c{i}") for i in range(2)]
    lists = Lists([[q.item] for q in queries], [[q.item] for q in queries])
    pairs, _ = mine(queries, lists, ["titles", "crops"], 8, 0, set())
    kinds = [p.source for p in pairs]
    assert kinds.count("crops") == 2 and kinds.count("titles") == 6


def test_the_mask_keeps_own_columns_and_vetoes_what_the_guide_prefers() -> None:
    guide = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    # columns: positive of q0, positive of q1, q0's hard negative, a copy of q0's item
    old = np.array([[0.6, 0.8], [0.0, 1.0], [0.9, 0.1], [0.6, 0.8]], np.float32)
    mask = batch_mask(guide, old, ["a", "b", "n", "a"], [2, None])
    # q0: positive 0.6; "n" scores 0.9 but is its own vetted negative; the copy of "a" is out
    assert mask[0].tolist() == [False, False, False, True]
    # q1: positive 1.0; "a" (0.8) and "n" (0.1) stay
    assert mask[1].tolist() == [False, False, False, False]
    guide2 = np.array([[1.0, 0.0], [1.0, 0.0]], np.float32)
    mask2 = batch_mask(guide2, old, ["a", "b", "n", "a"], [None, None])
    # q1's positive scores 0.0: the guide prefers "a" and "n" to it, so they are left out
    assert mask2[1].tolist() == [True, False, True, True]


def test_stalled_compares_with_the_best_before() -> None:
    history = [{"signal": s} for s in (0.5, 0.6, 0.55)]
    assert _stalled(history, 1)
    assert not _stalled(history[:2], 1)
    assert not _stalled(history, 2)  # 0.6 beat 0.5
    assert _stalled([{"signal": s} for s in (0.5, 0.4, 0.5)], 2)
