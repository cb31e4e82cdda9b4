"""Late interaction in a collection: token vectors stored and caught up like the other
indexes, MaxSim reranking, MUVERA candidates, and the exact reference they are measured by."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sleuth
from sleuth.config import CollectionConfig, LateConfig, MuveraConfig
from sleuth.encoders import get_encoder
from sleuth.encoders.base import Encoded, Encoder
from sleuth.errors import InvalidInput
from sleuth.search import LATE_MODES
from support import CATALOG, N_ITEMS, assert_same_hits, item_id, unique_token

SMALL_FDE = MuveraConfig(k_sim=3, d_proj=16, r_reps=8)


def late_config(**options: Any) -> CollectionConfig:
    return CollectionConfig(late=LateConfig(enabled=True, muvera=SMALL_FDE, **options))


@pytest.fixture
def lcol(tmp_path: Path) -> Any:
    col = sleuth.open(tmp_path / "late", encoder="hashing", config=late_config())
    col.add(CATALOG)
    yield col
    col.close()


def reference_maxsim(col: sleuth.Collection, query: str) -> dict[str, float]:
    """MaxSim computed the slow way from the encoder's own token vectors, for every item."""
    assert col.late is not None
    enc = col.encoder.encode([query], tokens=True).tokens
    q = col.late.queries(enc or [])[0]
    out = {}
    for item in CATALOG:
        text = " ".join(item[f] for f in ("title", "text"))
        d = col.late.documents(col.encoder.encode([text], tokens=True).tokens or [])[0]
        out[item["id"]] = float((q @ d.T).max(axis=1).sum())
    return out


def test_maxsim_exact_matches_a_reference_computation(lcol: sleuth.Collection) -> None:
    query = f"telescope {unique_token(5)} butter"
    ref = reference_maxsim(lcol, query)
    hits = lcol.search(query, k=10, mode="maxsim-exact")
    best = sorted(ref.values(), reverse=True)[:10]
    # float16 storage: scores within rounding of the float32 reference
    np.testing.assert_allclose([h.score for h in hits], best, atol=0.02)
    assert hits[0].id == item_id(5)
    for h in hits:
        assert h.score == pytest.approx(ref[h.id], abs=0.02)


def test_muvera_and_hybrid_maxsim_rerank_exactly(lcol: sleuth.Collection) -> None:
    query = f"recipe oven {unique_token(9)}"  # item 9 is about cooking
    exact = lcol.search(query, k=5, mode="maxsim-exact")
    # With every item a candidate, reranking is exact MaxSim, whatever the FDE ranked.
    assert lcol.config.late.rerank_depth >= N_ITEMS
    assert_same_hits(exact, lcol.search(query, k=5, mode="muvera"), rtol=1e-4)
    reranked = lcol.search(query, k=5, mode="hybrid+maxsim", explain=True)
    scores = [h.score for h in reranked]
    assert scores == sorted(scores, reverse=True) and reranked[0].id == item_id(9)
    explain = reranked[0].explain
    assert explain is not None
    assert {"lexical", "dense", "hybrid", "maxsim"} <= set(explain["retrievers"])
    assert "timings_ms" not in explain
    assert {"maxsim_ms", "query_tokens_ms"} <= set(reranked.trace.timings_ms)
    # the final score blends the fused and MaxSim z-scores: never the raw MaxSim alone
    assert explain["retrievers"]["maxsim"]["score"] == pytest.approx(exact[0].score, rel=1e-4)


def test_rerank_weight_one_ranks_by_maxsim_alone(tmp_path: Path) -> None:
    with sleuth.open(
        tmp_path / "c", encoder="hashing", config=late_config(rerank_weight=1.0)
    ) as col:
        col.add(CATALOG)
        query = f"sauce flour {unique_token(13)}"
        assert_same_hits(
            col.search(query, k=5, mode="maxsim-exact"),
            col.search(query, k=5, mode="hybrid+maxsim"),
            rtol=1e-4,
        )
    with pytest.raises(InvalidInput, match=r"late\.rerank_weight must be in \[0, 1\]"):
        LateConfig(rerank_weight=1.5)


def test_late_modes_obey_filters(lcol: sleuth.Collection) -> None:
    where = {"color": "blue", "in_stock": True}
    allowed = {it["id"] for it in CATALOG if it["color"] == "blue" and it["in_stock"]}
    for mode in LATE_MODES:
        hits = lcol.search("planet recipe boat", k=50, mode=mode, where=where)
        assert {h.id for h in hits} <= allowed, mode
        assert len(hits) == len(allowed), mode  # every allowed item is found, none leaks


def test_fde_candidates_find_the_exact_top_with_a_small_depth(tmp_path: Path) -> None:
    config = late_config(rerank_depth=10)
    with sleuth.open(tmp_path / "c", encoder="hashing", config=config) as col:
        col.add(CATALOG)
        found = 0
        for i in range(0, N_ITEMS, 6):
            query = f"{unique_token(i)} catalog entry"
            exact = col.search(query, k=1, mode="maxsim-exact")[0].id
            found += col.search(query, k=1, mode="muvera")[0].id == exact
        assert found == 10  # the item with the unique word is always among the FDE's 10


def test_writes_reopen_and_rebuild_keep_tokens_in_step(tmp_path: Path) -> None:
    path = tmp_path / "c"
    with sleuth.open(path, encoder="hashing", config=late_config()) as col:
        col.add(CATALOG)
        col.upsert([{**CATALOG[3], "text": "zeppelin airship"}])
        col.delete([item_id(4)])
        before = {m: col.search("zeppelin orbit", k=5, mode=m) for m in LATE_MODES}
        assert before["maxsim-exact"][0].id == item_id(3)
        assert item_id(4) not in {h.id for hits in before.values() for h in hits}
        info = col.info()["indexes"]
        assert info["tokens"]["live"] == info["muvera"]["live"] == N_ITEMS - 1
        assert info["tokens"]["rows"] <= N_ITEMS + 1
    assert (path / "index" / "tokens.npz").exists() and (path / "index" / "muvera.npz").exists()
    with sleuth.open(path, encoder="hashing") as col:
        for mode, hits in before.items():
            assert_same_hits(hits, col.search("zeppelin orbit", k=5, mode=mode))
        assert col.encoded_texts == 0  # loaded, not encoded again
    (path / "index" / "tokens.npz").write_bytes(b"not an index")  # damaged: rebuilt from store
    with pytest.warns(UserWarning, match="rebuilding the tokens index"):
        col = sleuth.open(path, encoder="hashing")
    with col:
        for mode, hits in before.items():
            assert_same_hits(hits, col.search("zeppelin orbit", k=5, mode=mode))
        col.rebuild()
        assert_same_hits(before["muvera"], col.search("zeppelin orbit", k=5, mode="muvera"))


def test_storage_options_pool_and_quantize(tmp_path: Path) -> None:
    sizes = {}
    for name, options in {
        "float16": {},
        "int8": {"dtype": "int8"},
        "pooled": {"pool_factor": 2},
        "stop": {"drop_stopwords": True},
        "proj": {"projection_dim": 32},
    }.items():
        with sleuth.open(tmp_path / name, encoder="hashing", config=late_config(**options)) as col:
            col.add(CATALOG)
            info = col.info()["indexes"]["tokens"]
            sizes[name] = (info["vectors"], info["bytes_per_item"])
            top = col.search(f"{unique_token(11)} butter", k=1, mode="maxsim-exact")[0].id
            assert top == item_id(11), name
    assert sizes["int8"][0] == sizes["float16"][0] and sizes["int8"][1] < sizes["float16"][1]
    assert sizes["pooled"][0] <= (sizes["float16"][0] + N_ITEMS) // 2 + N_ITEMS
    assert sizes["proj"][1] < sizes["float16"][1] / 4


def test_late_modes_need_late_interaction(tmp_path: Path) -> None:
    with sleuth.open(tmp_path / "plain", encoder="hashing") as col:
        col.add(CATALOG[:3])
        for mode in LATE_MODES:
            with pytest.raises(InvalidInput, match="needs late interaction"):
                col.search("boat", mode=mode)

    class NoTokens(Encoder):
        id, dim = "no-tokens", 8

        def encode(
            self, texts: list[str], *, batch_size: int = 32, tokens: bool = False
        ) -> Encoded:
            return Encoded(np.ones((len(texts), 8), np.float32) / np.sqrt(8))

    with pytest.raises(InvalidInput, match="does not produce token vectors"):
        sleuth.open(tmp_path / "nt", encoder=NoTokens(), config=late_config())
    assert not (tmp_path / "nt").exists()
    with pytest.raises(InvalidInput, match=r"late\.dtype 'int4' unknown; allowed: float16, int8"):
        LateConfig(dtype="int4")
    assert get_encoder("hashing").supports_tokens


def test_server_creates_late_collections_and_searches_them(tmp_path: Path) -> None:
    import httpx

    from sleuth.catalog import Engine
    from support import live_server

    engine = Engine(tmp_path / "data", default_encoder="hashing")
    with live_server(engine) as url, httpx.Client(base_url=url, timeout=30) as client:
        late = {"enabled": True, "muvera": {"k_sim": 3, "d_proj": 16, "r_reps": 8}}
        made = client.post("/collections", json={"name": "li", "config": {"late": late}})
        assert made.status_code == 201, made.text
        assert client.post("/collections", json={"name": "plain"}).status_code == 201
        for name in ("li", "plain"):
            assert client.post(f"/collections/{name}/items", json={"items": CATALOG}).is_success
        body = {"query": f"{unique_token(21)} catalog", "k": 3, "mode": "muvera"}
        hits = client.post("/collections/li/search", json=body).json()["hits"]
        assert hits[0]["id"] == item_id(21)
        refused = client.post("/collections/plain/search", json=body)
        assert refused.status_code == 422 and "needs late interaction" in refused.text
        bad = client.post("/collections", json={"name": "x", "config": {"late": {"dtype": "fp4"}}})
        assert bad.status_code == 422 and "late.dtype" in bad.json()["error"]["message"]


def test_a_lost_fde_index_is_rebuilt_from_the_stored_token_vectors(tmp_path: Path) -> None:
    path = tmp_path / "c"
    with sleuth.open(path, encoder="hashing", config=late_config()) as col:
        col.add(CATALOG)
        before = col.search(f"{unique_token(17)} catalog", k=5, mode="muvera")
    (path / "index" / "muvera.npz").unlink()
    with sleuth.open(path, encoder="hashing") as col:
        assert col.encoded_texts == 0  # no text was encoded again
        assert_same_hits(before, col.search(f"{unique_token(17)} catalog", k=5, mode="muvera"))
        assert col.info()["indexes"]["muvera"]["live"] == N_ITEMS
