"""Event readers and the interaction arrays the recommendation sources learn from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sleuth.errors import InvalidInput
from sleuth.io.events import read_events
from sleuth.io.movielens import read_movies
from sleuth.io.readers import read_items
from sleuth.recommend import EASE, CoVisit, History, Interactions, ItemKNN, Popularity
from sleuth.recommend.content import Content, recency_profile
from sleuth.types import Event, parse_event

KINDS = {"view": 1.0, "purchase": 5.0, "rating": 1.0}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_movielens_formats(tmp_path: Path) -> None:
    tab = read_events(write(tmp_path, "u.data", "1\t10\t4\t881250949\n2\t20\t3\t881250950\n"))
    colons = read_events(write(tmp_path, "ratings.dat", "1::10::4::881250949\n"))
    assert (
        tab[0] == colons[0] == Event(user="1", item="10", kind="rating", value=4.0, ts=881250949.0)
    )
    assert tab[1].user == "2"


def test_sasrec_lines_keep_file_order(tmp_path: Path) -> None:
    events = read_events(write(tmp_path, "beauty.txt", "1 5\n1 3\n2 5\n"))
    assert [(e.user, e.item, e.ts) for e in events] == [
        ("1", "5", 1.0),
        ("1", "3", 2.0),
        ("2", "5", 3.0),
    ]


def test_csv_and_jsonl(tmp_path: Path) -> None:
    csv = write(tmp_path, "e.csv", "user,item,kind,ts\nu,a,purchase,2024-01-01T00:00:00Z\nu,b,,5\n")
    events = read_events(csv, kinds=KINDS)
    assert events[0].kind == "purchase" and events[0].ts == 1704067200.0
    assert events[1].kind == "view" and events[1].ts == 5.0
    jsonl = write(tmp_path, "e.jsonl", '{"user": "u", "item": 7, "event_id": "x1"}\n')
    assert read_events(jsonl)[0] == Event(user="u", item="7", event_id="x1")


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("u.data", "1\t10\t4\t881250949\n1\t10\tfour\t881250949\n", "u.data:2: rating"),
        ("ratings.dat", "1::10::4\n", "ratings.dat:1: expected"),
        ("s.txt", "1 2\n1 2 3\n", "s.txt:2: expected 'user item'"),
        (
            "e.jsonl",
            '{"user": "u", "item": "a", "kind": "hover"}\n',
            "e.jsonl:1: unknown event kind",
        ),
        ("e.jsonl", '{"user": "", "item": "a"}\n', "e.jsonl:1: event user"),
        ("e.csv", "user,thing\nu,a\n", "e.csv:1: the header"),
        ("e.csv", "user,item,value\nu,a,lots\n", "e.csv:2: event value"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, name: str, text: str, needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle.replace("(", r"\(")):
        read_events(write(tmp_path, name, text), kinds=KINDS)


def test_parse_event_refuses_unknown_keys_and_bad_ts() -> None:
    with pytest.raises(InvalidInput, match="unknown event key"):
        parse_event({"user": "u", "item": "a", "when": 1})
    with pytest.raises(InvalidInput, match="ISO 8601"):
        parse_event({"user": "u", "item": "a", "ts": "yesterday"})


def interactions() -> Interactions:
    # u0: a b c, u1: a b d, u2: b c — timestamps out of file order to check sorting.
    rows = [
        ("u0", "c", 3),
        ("u0", "a", 1),
        ("u0", "b", 2),
        ("u1", "a", 1),
        ("u1", "b", 2),
        ("u1", "d", 3),
        ("u2", "b", 1),
        ("u2", "c", 2),
    ]
    return Interactions.from_events([Event(user=u, item=i, ts=float(t)) for u, i, t in rows])


def test_interactions_sort_by_user_and_time_and_hold_out_the_last() -> None:
    data = interactions()
    item = data.item_ids
    assert [item[i] for i in data.history(0).items] == ["a", "b", "c"]
    train, users, held = data.leave_last_out(1)
    assert users.tolist() == [0, 1, 2]
    assert [item[i] for i in held[:, 0]] == ["c", "d", "c"]
    assert [item[i] for i in train.history(1).items] == ["a", "b"]


def test_covisit_counts_what_follows_within_the_window() -> None:
    data = interactions()
    idx = data.item_index
    model = CoVisit(window=1, recent=1).fit(data)
    scores = model.score([data.history(2)])[0]  # last item c: nothing ever follows c
    assert scores.max() == 0
    after_b = model.score([data.history(0)])[0]  # u0 ends with c: nothing follows c either
    assert after_b.max() == 0
    row_b = model.t[idx["b"]].toarray().ravel()
    # b is followed by c twice and by d once; normalized by (3 + 1)
    assert row_b[idx["c"]] == pytest.approx(2 / 4) and row_b[idx["d"]] == pytest.approx(1 / 4)
    near_a = model.neighbours(idx["a"])
    assert near_a.argmax() == idx["b"]


def test_popularity_ease_and_knn_rank_sensibly() -> None:
    data = interactions()
    idx = data.item_index
    pop = Popularity().fit(data).score([data.history(0)])[0]
    assert pop.argmax() == idx["b"]  # b: all three users
    knn = ItemKNN().fit(data).score([data.history(2)])[0]  # u2 has b, c: a co-occurs with both
    assert knn[idx["a"]] > knn[idx["d"]]
    ease = EASE(l2=1.0).fit(data).score([data.history(2)])[0]
    assert ease[idx["a"]] > ease[idx["d"]]
    with pytest.raises(InvalidInput, match="over its limit"):
        EASE(max_items=2).fit(data)
    assert np.isfinite(ease).all()


def test_content_source_follows_the_recent_profile() -> None:
    data = interactions()
    idx = data.item_index
    # a and b point one way, c and d the other
    vectors = {
        "a": np.array([1.0, 0.0]),
        "b": np.array([0.9, 0.1]),
        "c": np.array([0.0, 1.0]),
        "d": np.array([0.1, 0.9]),
    }
    model = Content(vectors).fit(data)

    def scores(*items: str) -> np.ndarray:
        codes = np.array([idx[i] for i in items])
        history = History(codes, np.ones(codes.size, np.float32), np.arange(codes.size, 0.0))
        return model.score([history])[0]

    assert scores("a", "c")[idx["d"]] > scores("a", "c")[idx["b"]]  # c is newer: d is closer
    assert scores("c", "a")[idx["b"]] > scores("c", "a")[idx["d"]]  # now a is newer
    cold = Content({k: v for k, v in vectors.items() if k != "d"}).fit(data)
    s = cold.score([data.history(1)])[0]  # d has no vector: it scores below everything
    assert s[idx["d"]] < s[[idx["a"], idx["b"], idx["c"]]].min()
    heavy = recency_profile(np.stack([vectors["a"], vectors["c"]]), np.array([10.0, 1.0]))
    assert heavy is not None and heavy[0] > heavy[1]  # a purchase outweighs a newer view
    assert recency_profile(np.zeros((0, 2)), np.zeros(0)) is None
    with pytest.raises(InvalidInput, match="needs item vectors"):
        Content({})


def test_movielens_movies_become_items(tmp_path: Path) -> None:
    dat = write(tmp_path, "movies.dat", "1::Toy Story (1995)::Animation|Children's|Comedy\n")
    (movie,) = read_items(tmp_path)
    assert movie.id == "1" and movie.fields["title"] == "Toy Story (1995)"
    assert movie.attributes == {"genres": ["Animation", "Children's", "Comedy"], "year": 1995}
    assert movie.fields["text"] == "Animation, Children's, Comedy"
    dat.write_text("1::Toy Story (1995)::Comedy\n2::Heat (1995)\n")
    with pytest.raises(InvalidInput, match=r"movies.dat:2: expected 'id::title::genres'"):
        read_movies(dat)
    item = tmp_path / "100k"
    item.mkdir()
    flags = "|".join("1" if g in (1, 5) else "0" for g in range(19))
    write(item, "u.item", f"7|Heat (1995)|01-Jan-1995||http://x|{flags}\n8|Short|x||y|0|1\n")
    with pytest.raises(InvalidInput, match=r"u.item:2: expected 24 '\|'-separated cells, got 7"):
        read_items(item)
    write(item, "u.item", f"7|Heat (1995)|01-Jan-1995||http://x|{flags}\n")
    (heat,) = read_items(item)
    assert heat.attributes["genres"] == ["Action", "Comedy"]
