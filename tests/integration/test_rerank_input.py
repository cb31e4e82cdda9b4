"""Bad values for the cross-encoder stage and its training, in Python and over HTTP: each a
clear ``InvalidInput`` (HTTP 422) naming what is allowed, and nothing written. No model loads:
every case is refused before one would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from test_server import error_of

import sleuth
from sleuth.catalog import Engine
from sleuth.encoders.sentence import bundled_minilm
from sleuth.errors import InvalidInput
from support import CATALOG, live_server

QRELS = {"q": {"item-001": 1, "item-005": 1}}
QUERIES = {"q": "telescope orbit"}


@pytest.fixture
def col(tmp_path: Path) -> Iterator[sleuth.Collection]:
    with sleuth.open(tmp_path / "c", encoder="hashing") as collection:
        collection.add(CATALOG)
        yield collection


@pytest.mark.parametrize(
    ("rerank", "message"),
    [
        ("bogus", "cross-encoder:PATH"),
        ("cross-encoder:", "needs a folder path"),
        ("cross-encoder:/no/such/folder", "does not exist"),
        ({"model": "trained", "depth": 0}, "depth must be an integer from 1 to 1000"),
        ({"model": "trained", "depth": 1001}, "depth must be an integer from 1 to 1000"),
        ({"model": "trained", "weight": 1.5}, "weight must be a number from 0 to 1"),
        ({"model": "trained", "colour": 1}, "takes model"),
        (3, "rerank must be"),
        ("trained", "has none: train one"),
    ],
)
def test_bad_rerank_values(col: sleuth.Collection, rerank: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        col.search("orbit", k=3, rerank=rerank)


def test_folders_that_are_not_cross_encoders(col: sleuth.Collection, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a CrossEncoder"):  # an embedding model
        col.search("orbit", k=3, rerank=f"cross-encoder:{bundled_minilm()}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match=r"no readable config\.json"):
        col.search("orbit", k=3, rerank=f"cross-encoder:{tmp_path / 'empty'}")
    with pytest.raises(InvalidInput, match="reads the query text"):
        col.search(vector=[0.1] * col.dim, k=3, mode="dense", rerank="trained")


def test_bad_training_input_writes_nothing(col: sleuth.Collection) -> None:
    with pytest.raises(InvalidInput, match="not in the collection"):
        col.train_reranker({"q": {"no-such-item": 1}}, QUERIES)
    with pytest.raises(InvalidInput, match="not among"):
        col.train_reranker({"nope": {"item-001": 1}}, QUERIES)
    with pytest.raises(InvalidInput, match="no positive"):
        col.train_reranker({"q": {"item-001": 0}}, QUERIES)
    with pytest.raises(InvalidInput, match="unknown reranker option 'rounds'"):
        col.train_reranker(QRELS, QUERIES, rounds=3)
    with pytest.raises(InvalidInput, match="minutes must be a positive number"):
        col.train_reranker(QRELS, QUERIES, minutes=0)
    with pytest.raises(InvalidInput, match="epochs must be a positive integer"):
        col.train_reranker(QRELS, QUERIES, epochs=0)
    with pytest.raises(InvalidInput, match="no search events"):
        col.train_reranker()
    assert not (col.path / "models").exists()


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    engine = Engine(tmp_path / "data", default_encoder="hashing")
    engine.create("docs").add(CATALOG)
    models = tmp_path / "models"
    (models / "embedder").mkdir(parents=True)
    (models / "embedder" / "config.json").write_text('{"architectures": ["BertModel"]}')
    with live_server(engine, models=models) as url, httpx.Client(base_url=url, timeout=60) as c:
        yield c


@pytest.mark.parametrize(
    ("rerank", "field"),
    [
        ("bogus", "rerank"),
        ({"model": "trained", "depth": 0}, "depth"),
        ({"model": "trained", "weight": 2}, "weight"),
        ({"model": "trained", "extra": 1}, "extra"),
    ],
)
def test_http_schema_refuses_bad_values(client: httpx.Client, rerank: object, field: str) -> None:
    answer = client.post("/collections/docs/search", json={"query": "orbit", "rerank": rerank})
    assert field in str(error_of(answer, 422)["details"])


def test_http_refuses_what_is_not_there(client: httpx.Client) -> None:
    search = "/collections/docs/search"
    untrained = error_of(client.post(search, json={"query": "orbit", "rerank": "trained"}), 422)
    assert "train one" in untrained["message"]
    outside = client.post(search, json={"query": "orbit", "rerank": "cross-encoder:/etc"})
    assert "models directory" in error_of(outside, 422)["message"]
    embedder = client.post(search, json={"query": "orbit", "rerank": "cross-encoder:embedder"})
    assert "not a CrossEncoder" in error_of(embedder, 422)["message"]
    body = {"qrels": {"q": {"no-such-item": 1}}, "queries": QUERIES}
    bad = client.post("/collections/docs/reranker", json=body)
    assert "not in the collection" in error_of(bad, 422)["message"]
