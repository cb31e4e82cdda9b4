"""The plan registry (mode name -> plan) and the one trace per request."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

import sleuth
from sleuth.config import CollectionConfig, LateConfig
from sleuth.search import BASE_MODES, LATE_MODES, MODES, PLANS, TRAINED_MODES, Hits, plan_for
from sleuth.server.schemas import Mode
from support import CATALOG, N_ITEMS, item_id, unique_token


@pytest.fixture(scope="module")
def col(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sleuth.Collection]:
    path: Path = tmp_path_factory.mktemp("plans") / "col"
    config = CollectionConfig(late=LateConfig(enabled=True))
    with sleuth.open(path, encoder="hashing", config=config) as collection:
        collection.add(CATALOG[:30])
        # mode "ranked" needs a trained ranker: each item's title finds the item
        queries = {str(i): f"{CATALOG[i]['title']} {CATALOG[i]['text']}" for i in range(30)}
        qrels = {str(i): {item_id(i): 1} for i in range(30)}
        collection.train_ranker(qrels, queries, params={"rounds": 20, "min_data_in_leaf": 5})
        yield collection


def allowed_in(message: str) -> list[str]:
    return message.split("allowed: ", 1)[1].split(", ")


@pytest.mark.parametrize("mode", ["bm25", "LEXICAL", "", "hybrid ", 3, None])
def test_an_unknown_mode_lists_exactly_the_registrys_names(
    col: sleuth.Collection, mode: object
) -> None:
    with pytest.raises(sleuth.InvalidInput) as caught:
        col.search("catalog", mode=mode)  # type: ignore[arg-type]
    assert allowed_in(caught.value.message) == list(PLANS)
    with pytest.raises(sleuth.InvalidInput) as direct:
        plan_for(mode, late=True)
    assert direct.value.message == caught.value.message


def test_the_mode_lists_come_from_the_registry() -> None:
    assert MODES == tuple(PLANS) == (*BASE_MODES, *LATE_MODES, *TRAINED_MODES)
    assert set(LATE_MODES) == {m for m, p in PLANS.items() if p.late}
    assert typing.get_args(Mode) == MODES  # the HTTP schema offers the same modes


def test_a_late_mode_without_late_interaction_says_how_to_get_it(tmp_path: Path) -> None:
    with sleuth.open(tmp_path / "plain", encoder="hashing") as plain:
        plain.add(CATALOG[:3])
        for mode in LATE_MODES:
            with pytest.raises(sleuth.InvalidInput, match=r"late\.enabled = true"):
                plain.search("catalog", mode=mode)
        assert plain.search("catalog", mode="hybrid")


def expected_stages(mode: str) -> list[str]:
    plan = PLANS[mode]
    stages = ["filter_ms", *(f"{name}_ms" for name in plan.retrievers)]
    if plan.fusion is not None:
        stages.append("fuse_ms")
    return stages + [f"{ranker.name}_ms" for ranker in plan.rankers]


@pytest.mark.parametrize("mode", list(PLANS))
def test_every_mode_runs_and_its_trace_has_the_plans_stages(
    col: sleuth.Collection, mode: str
) -> None:
    own_text = f"{CATALOG[5]['title']} {CATALOG[5]['text']}"
    hits = col.search(own_text, k=4, mode=mode, explain=True)
    assert isinstance(hits, Hits) and isinstance(hits, list)
    assert hits[0].id == item_id(5)
    trace = hits.trace
    assert (trace.mode, trace.k, trace.queries) == (mode, 4, 1)
    assert set(trace.candidates) == set(PLANS[mode].retrievers)
    assert all(0 < n <= max(col.config.fusion.depth, 30) for n in trace.candidates.values())
    timings = trace.timings_ms
    stages = expected_stages(mode)
    assert set(stages) <= set(timings)
    assert [s for s in timings if s in stages] == stages  # in the order the plan runs them
    assert list(timings)[-2:] == ["fetch_ms", "total_ms"]


@pytest.mark.parametrize("mode", list(PLANS))
def test_no_hit_carries_timings_and_the_total_covers_every_stage(
    col: sleuth.Collection, mode: str
) -> None:
    batch = col.search_batch(["catalog entry", unique_token(7)], k=5, mode=mode, explain=True)
    trace = batch[0].trace
    assert all(hits.trace is trace for hits in batch)  # one trace per request
    assert trace.queries == 2
    for hits in batch:
        assert hits
        for h in hits:
            assert h.explain is not None and "timings_ms" not in h.explain
    timings = trace.timings_ms
    assert all(ms >= 0 for ms in timings.values())
    assert all(timings["total_ms"] >= ms for ms in timings.values())
    assert trace.to_dict()["timings_ms"] == timings
    plain = col.search("catalog", k=3, mode=mode)
    assert all(h.explain is None for h in plain) and "total_ms" in plain.trace.timings_ms


def test_a_requests_fusion_replaces_the_collections(col: sleuth.Collection) -> None:
    query = f"boat {unique_token(8)}"
    default = col.search(query, k=N_ITEMS)
    same = col.search(query, k=N_ITEMS, fusion=col.config.fusion)
    assert [(h.id, h.score) for h in same] == [(h.id, h.score) for h in default]
    rrf = col.search(query, k=N_ITEMS, fusion=sleuth.FusionConfig(method="rrf"), explain=True)
    assert [h.score for h in rrf] != [h.score for h in default]
    for h in rrf:  # reciprocal ranks, k = 60, as the request's fusion says
        assert h.explain is not None
        ranks = [r["rank"] for r in h.explain["retrievers"].values() if r is not None]
        assert h.score == pytest.approx(sum(1 / (60 + r) for r in ranks), rel=1e-6)
    with pytest.raises(sleuth.InvalidInput, match="fusion must be a FusionConfig"):
        col.search(query, fusion={"method": "rrf"})  # type: ignore[arg-type]
