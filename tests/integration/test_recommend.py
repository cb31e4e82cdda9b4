"""Recording events and recommending from them, through the API, the CLI and the server.

Users follow a simple rule: user ``u`` walks the items of topic ``u % 4`` in id order (items
``i`` with ``i % 4 == topic``), so what should come next is known without running anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import sleuth
from sleuth.catalog import Engine
from support import CATALOG, N_ITEMS, item_id, live_server

N_USERS = 40
TOPIC_ITEMS = {t: [i for i in range(N_ITEMS) if i % 4 == t] for t in range(4)}


def walk(user: int, steps: int) -> list[dict[str, Any]]:
    items = TOPIC_ITEMS[user % 4]
    start = user // 4 % 3
    return [
        {
            "user": f"u{user}",
            "item": item_id(items[start + s]),
            "ts": 1000.0 * user + s,
            "event_id": f"u{user}-{s}",
        }
        for s in range(steps)
    ]


@pytest.fixture
def events() -> list[dict[str, Any]]:
    return [e for u in range(N_USERS) for e in walk(u, 6)]


@pytest.fixture
def rcol(col: sleuth.Collection, events: list[dict[str, Any]]) -> sleuth.Collection:
    col.record(events)
    return col


def test_recommendations_follow_the_walk_and_exclude_what_was_seen(rcol: sleuth.Collection) -> None:
    seen = [e["item"] for e in walk(5, 6)]
    hits = rcol.recommend("u5", k=5, explain=True)
    ids = [h.id for h in hits]
    assert not set(ids) & set(seen)
    topic = {item_id(i) for i in TOPIC_ITEMS[5 % 4]}
    assert ids[0] in topic  # what other walkers of topic 1 did next
    assert "co-visit" in hits[0].explain["retrievers"]  # type: ignore[index]
    with_seen = [h.id for h in rcol.recommend("u5", k=30, exclude_seen=False)]
    assert set(with_seen) & set(seen)


def test_content_unfiltered_fetches_past_the_seen_and_equals_the_masked_search(
    rcol: sleuth.Collection,
) -> None:
    """Without ``where``, content searches unfiltered past the user's seen items and reads the
    mask only at what it found; a filter every item passes takes the masked search. Both
    give the same list (exact search here), seen items excluded, also after a delete."""
    rcol.delete([item_id(2)])
    passes_all = {"price": {"gte": 0}}
    for user in ("u5", "u6", "u13"):
        seen = {e["item"] for e in walk(int(user[1:]), 6)}
        plain = rcol.recommend(user, k=12, sources={"content": 1.0})
        masked = rcol.recommend(user, k=12, sources={"content": 1.0}, where=passes_all)
        assert [h.id for h in plain] == [h.id for h in masked] and len(plain) == 12
        assert [h.score for h in plain] == pytest.approx([h.score for h in masked])
        assert not {h.id for h in plain} & (seen | {item_id(2)})


def test_where_is_never_violated(rcol: sleuth.Collection) -> None:
    for user in ("u1", "u2", "nobody"):
        hits = rcol.recommend(user, k=10, where={"color": "red", "in_stock": True})
        assert hits and all(
            h.attributes["color"] == "red" and h.attributes["in_stock"] for h in hits
        )


def test_a_recorded_event_changes_the_next_recommendation(rcol: sleuth.Collection) -> None:
    before = [h.id for h in rcol.recommend("u3", k=5)]
    other_topic = TOPIC_ITEMS[(3 + 1) % 4]
    rcol.record([{"user": "u3", "item": item_id(other_topic[0]), "ts": 10**9, "kind": "purchase"}])
    after = [h.id for h in rcol.recommend("u3", k=5)]
    assert after != before
    assert item_id(other_topic[1]) in after  # what follows the new item in others' walks


def test_cold_users_get_popularity_and_unknown_items_wait(
    tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    # refit_growth 0: every new event refits, as a larger log would
    config = sleuth.CollectionConfig(recommend=sleuth.RecommendConfig(refit_growth=0.0))
    rcol = sleuth.open(tmp_path / "c", encoder="hashing", config=config)
    rcol.add(CATALOG)
    rcol.record(events)
    rcol.recommend("stranger", k=5)
    ghosts = [{"user": f"g{u}", "item": "ghost", "ts": 5e9 + u} for u in range(30)]
    rcol.record(ghosts)
    cold = [h.id for h in rcol.recommend("stranger", k=5)]
    assert "ghost" not in cold and cold
    rcol.add([{"id": "ghost", "text": "a late arrival"}])
    assert rcol.recommend("stranger", k=5)[0].id == "ghost"
    rcol.close()


def test_record_is_idempotent_and_all_or_nothing(
    rcol: sleuth.Collection, events: list[dict[str, Any]]
) -> None:
    again = rcol.record(events[:10])
    assert (again.recorded, again.duplicates) == (0, 10)
    count = rcol.store.event_count()
    with pytest.raises(sleuth.InvalidInput, match="event 1: unknown event kind 'hover'"):
        rcol.record([{"user": "x", "item": "y"}, {"user": "x", "item": "y", "kind": "hover"}])
    assert rcol.store.event_count() == count


def test_diversity_spreads_the_list(rcol: sleuth.Collection) -> None:
    def spread(ids: list[str]) -> float:
        v = rcol.vectors(ids)
        sim = v @ v.T
        return float((sim.sum() - np.trace(sim)) / (len(ids) * (len(ids) - 1)))

    plain = [h.id for h in rcol.recommend("nobody", k=8)]
    varied = [h.id for h in rcol.recommend("nobody", k=8, diversity=0.9)]
    assert spread(varied) < spread(plain)
    with pytest.raises(sleuth.InvalidInput, match="diversity"):
        rcol.recommend("u1", diversity=2)


def test_similar_fuses_co_visitation(rcol: sleuth.Collection) -> None:
    first = TOPIC_ITEMS[2]
    ids = [h.id for h in rcol.similar(item_id(first[1]), k=3)]
    assert item_id(first[2]) in ids or item_id(first[0]) in ids


def test_server_events_and_recommend(tmp_path: Path, events: list[dict[str, Any]]) -> None:
    engine = Engine(tmp_path / "data", default_encoder="hashing")
    engine.create("docs").add(CATALOG)
    with live_server(engine) as url, httpx.Client(base_url=url, timeout=30) as client:
        r = client.post("/collections/docs/events", json={"events": events})
        assert r.json() == {"recorded": len(events), "duplicates": 0}
        bad = client.post(
            "/collections/docs/events",
            json={"events": [{"user": "u", "item": "a", "kind": "hover"}]},
        )
        assert bad.status_code == 422 and "hover" in bad.json()["error"]["message"]
        got = client.get(
            "/collections/docs/recommend",
            params={"user": "u5", "k": 5, "where": '{"color": "red"}'},
        )
        posted = client.post(
            "/collections/docs/recommend", json={"user": "u5", "k": 5, "where": {"color": "red"}}
        )
        assert [h["id"] for h in got.json()["hits"]] == [h["id"] for h in posted.json()["hits"]]
        assert all(h["attributes"]["color"] == "red" for h in got.json()["hits"])


def test_cli_record_and_recommend(tmp_path: Path, events: list[dict[str, Any]]) -> None:
    path = tmp_path / "col"
    with sleuth.open(path, encoder="hashing") as col:
        col.add(CATALOG)
    log = tmp_path / "events.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    cli = [sys.executable, "-m", "sleuth.cli"]
    out = subprocess.run([*cli, "record", str(path), str(log)], capture_output=True, text=True)
    assert out.returncode == 0 and f"recorded {len(events)} events" in out.stdout
    out = subprocess.run(
        [*cli, "recommend", str(path), "u5", "--k", "3", "--json"], capture_output=True, text=True
    )
    hits = json.loads(out.stdout)
    assert len(hits) == 3 and not {h["id"] for h in hits} & {e["item"] for e in walk(5, 6)}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"user": "u", "item": "a"}\n{"user": "u"}\n')
    out = subprocess.run([*cli, "record", str(path), str(bad)], capture_output=True, text=True)
    assert out.returncode == 1 and "bad.jsonl:2:" in out.stderr


def test_multi_interest_source_can_be_switched_on(
    tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    weights = {
        "co-visit": 0.0,
        "ease": 0.0,
        "content": 0.0,
        "popularity": 0.0,
        "multi-interest": 1.0,
    }
    config = sleuth.CollectionConfig(recommend=sleuth.RecommendConfig(sources=weights))
    with sleuth.open(tmp_path / "mi", encoder="hashing", config=config) as col:
        col.add(CATALOG)
        col.record(events)
        hits = col.recommend("u5", k=5, explain=True)
        assert hits and all(set(h.explain["retrievers"]) == {"multi-interest"} for h in hits)  # type: ignore[index]


SMALL = {"dim": 16, "blocks": 1, "max_len": 10, "epochs": 4, "batch": 16, "seed": 3}


def test_train_sequential_persists_warm_starts_and_is_deterministic(
    tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    def trained(name: str) -> sleuth.Collection:
        col = sleuth.open(tmp_path / name, encoder="hashing")
        col.add(CATALOG)
        col.record(events)
        summary = col.train(**SMALL)
        assert summary["epochs"] >= 1 and summary["items_with_rows"] == len(
            {e["item"] for e in events}
        )
        return col

    a, b = trained("a"), trained("b")
    hits_a = a.recommend("u5", k=5, explain=True)
    assert [h.id for h in hits_a] == [h.id for h in b.recommend("u5", k=5)]  # same seed
    assert any(h.explain["retrievers"].get("sequential") for h in hits_a)  # type: ignore[index]
    a.close()
    with sleuth.open(tmp_path / "a") as again:  # loaded from models/, not retrained
        assert [h.id for h in again.recommend("u5", k=5)] == [h.id for h in hits_a]
        again.record([{"user": "u5", "item": "new-item", "ts": 10**9}])
        summary = again.train(**SMALL)
        assert summary["warm_start"] is True and summary["events"] == len(events) + 1
    b.close()


def test_sequential_candidates_come_from_a_dense_search_of_the_item_embeddings(
    tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    from sleuth.recommend.interactions import History
    from sleuth.recommend.trained import TrainedSequential

    with sleuth.open(tmp_path / "c", encoder="hashing") as col:
        col.add(CATALOG)
        col.record(events)
        col.train(**SMALL)
        model = TrainedSequential.load(col.path / "models")
        assert model is not None
        history = sorted((e for e in col.store.events() if e.user == "u5"), key=lambda e: e.ts)
        ids, scores = model.top(history, 10, exclude_seen=True)
        # the same ranking as scoring every item with the model (the full logits)
        rows = model.table.lookup([e.item for e in history])
        full = model.model.score(
            [History(rows, np.ones(rows.size, np.float32), np.zeros(rows.size))]
        )[0]
        full[rows] = -np.inf
        owned = [r for r, o in enumerate(model.owners) if o]
        best = sorted(owned, key=lambda r: -full[r])[: len(ids)]
        np.testing.assert_allclose(scores, full[best], rtol=1e-5)
        assert not {e.item for e in history} & set(ids)


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"bogus": 1}, "unknown training option 'bogus'; allowed: dim"),
        ({"dim": 0}, "dim must be an integer of at least 1, got 0"),
        ({"dim": "64"}, "dim must be an integer"),
        ({"lr": 0}, r"lr must be a number in \(0, 1\)"),
        ({"dropout": True}, r"dropout must be a number in \[0, 1\)"),
        ({"capacity": "x"}, "capacity must be a positive integer"),
        ({"min_count": 0}, "min_count must be a positive integer"),
    ],
)
def test_bad_training_options_are_refused_before_anything_is_saved(
    rcol: sleuth.Collection, options: dict[str, Any], needle: str
) -> None:
    before = [h.id for h in rcol.recommend("u5", k=5)]
    with pytest.raises(sleuth.InvalidInput, match=needle):
        rcol.train(**options)
    # dim=0 used to train and save a model that broke every later recommend with a ValueError
    assert not (rcol.path / "models" / "sequential.json").exists()
    assert [h.id for h in rcol.recommend("u5", k=5)] == before


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda c: c.record(5), "events must be a list of event objects, got int"),
        (lambda c: c.record({"user": "u1", "item": "x"}), "must be a list of event objects"),
        (lambda c: c.recommend("u1", exclude_seen="no"), "exclude_seen must be true or false"),
        (lambda c: c.recommend("u1", explain=1), "explain must be true or false"),
    ],
)
def test_bad_arguments_are_invalid_input_not_python_errors(
    rcol: sleuth.Collection, call: Any, needle: str
) -> None:
    with pytest.raises(sleuth.InvalidInput, match=needle):
        call(rcol)


def test_a_closed_collection_says_so_and_is_not_a_conflict(
    tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    from sleuth.server.errors import STATUS

    col = sleuth.open(tmp_path / "closed", encoder="hashing")
    col.add(CATALOG)
    col.close()
    for call in (lambda: col.recommend("u1"), lambda: col.record(events[:1])):
        with pytest.raises(sleuth.Closed, match="is closed; open it again") as err:
            call()
        assert not isinstance(err.value, sleuth.Conflict)
    assert STATUS[sleuth.Closed] == 503 and STATUS[sleuth.Conflict] == 409
