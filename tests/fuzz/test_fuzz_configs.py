"""Fuzzing collection configurations, nested, through the Python API and ``POST /collections``.

A valid configuration creates a collection that stores it as given, takes items, searches, and
equals its own rebuild. An invalid one (a wrong type, a value out of range, an unknown name at
any depth) is an ``InvalidInput`` / 4xx that leaves no folder behind and every other collection
listed and served.
"""

from __future__ import annotations

import ast
import itertools
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fuzzing import ENCODER, assert_whole, fuzz
from hypothesis import given
from hypothesis import strategies as st

from sleuth.catalog import Engine
from sleuth.config import DEFAULT_EVENT_WEIGHTS, DEFAULT_SOURCE_WEIGHTS, CollectionConfig
from sleuth.errors import InvalidInput
from sleuth.server import create_app
from support import CATALOG

unit = st.floats(0, 1)
# Each section's keys with values in ranges a small machine handles; every key is optional.
SECTIONS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "bm25": {
        "k1": st.floats(0.1, 3),
        "b": unit,
        "stemmer": st.sampled_from(["english", "french", None]),
        "stopwords": st.sampled_from(["english", None]),
    },
    "dense": {
        "exact_threshold": st.integers(1, 50_000),
        "hnsw_m": st.integers(4, 64),
        "ef_construction": st.integers(8, 400),
        "ef_search": st.integers(8, 400),
        "filter_exact_below": st.integers(0, 10_000),
    },
    "fusion": {
        "method": st.sampled_from(["rrf", "score"]),
        "rrf_k": st.integers(0, 100),
        "weights": st.lists(st.floats(0, 2), min_size=2, max_size=2),
        "normalization": st.sampled_from(["minmax", "zscore"]),
        "alpha": unit,
        "adaptive": st.booleans(),
        "depth": st.integers(1, 300),
    },
    "late": {
        "enabled": st.booleans(),
        "drop_punctuation": st.booleans(),
        "drop_stopwords": st.booleans(),
        "projection_dim": st.none() | st.integers(16, 64),  # at least muvera.d_proj (16)
        "pool_factor": st.integers(1, 4),
        "dtype": st.sampled_from(["float16", "int8"]),
        "rerank_depth": st.integers(1, 200),
        "rerank_weight": unit,
    },
    "recommend": {
        "event_weights": st.dictionaries(
            st.sampled_from(sorted(DEFAULT_EVENT_WEIGHTS)), st.floats(0, 5), min_size=1
        ),
        "sources": st.dictionaries(
            st.sampled_from(sorted(DEFAULT_SOURCE_WEIGHTS)), st.floats(0, 2)
        ),
        "depth": st.integers(1, 500),
        "popularity_half_life_days": st.none() | st.floats(0.5, 365),
        "refit_growth": st.floats(0, 1),
    },
}


@st.composite
def valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if draw(st.booleans()):
        config["text_fields"] = draw(
            st.sampled_from([["title", "text"], ["text"], ["text", "body"]])
        )
    for section, keys in SECTIONS.items():
        chosen = draw(st.lists(st.sampled_from(sorted(keys)), unique=True, max_size=3))
        if chosen or draw(st.booleans()):
            config[section] = {key: draw(keys[key]) for key in chosen}
    return config


# One value per key that the engine must refuse: a wrong type, out of range, or unknown.
WRONG: dict[str, list[Any]] = {
    "bm25.k1": [0, -1, "x", None, True],
    "bm25.b": [1.5, -0.1, "0.5"],
    "bm25.stemmer": ["klingon", 5, ""],
    "bm25.stopwords": ["klingon", 3],
    "dense.exact_threshold": [0, -5, "10", 2.5],
    "dense.hnsw_m": [0, 10**9, "x"],
    "dense.ef_search": [0, 10**9],
    "dense.ef_construction": [-1, 10**9],
    "dense.filter_exact_below": [-1, "x"],
    "fusion.method": ["max", 1],
    "fusion.depth": [0, 10**9, 1.5, "5"],
    "fusion.alpha": [2, -1, "half"],
    "fusion.rrf_k": [-1, "60"],
    "fusion.weights": [[1], [1, -1], "1,1", [1, 2, 3]],
    "fusion.adaptive": ["no", 2],
    "fusion.normalization": ["l2"],
    "late.enabled": ["no", 1, "false"],
    "late.pool_factor": [0, 99],
    "late.dtype": ["float64"],
    "late.projection_dim": [4, 10**6, "8"],
    "late.rerank_depth": [0, 10**7],
    "late.rerank_weight": [2],
    "late.muvera": ["x", {"bogus": 1}],
    "recommend.event_weights": [{}, {"view": -1}, {"view": "x"}, []],
    "recommend.sources": [{"nope": 1}, {"ease": -1}],
    "recommend.depth": [0, 10**9],
    "recommend.refit_growth": [-1],
    "recommend.popularity_half_life_days": [-1, "x"],
    "text_fields": ["title", [], [""], [5], None],
    "encoder": ["hashing:7", "hashing:99999999", 5],
    "dense": [5, "x", None, []],
    "bm25": [[], 1],
    "fusion": ["rrf"],
    "late": [True],
    "unknown": [1],
    "bm25.unknown": [1],
    "fusion.weights.x": [1],
}


@st.composite
def invalid_configs(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[str, str]]:
    """A valid configuration with one value made wrong, and (dotted path, repr) of that value."""
    config = draw(valid_configs())
    path = draw(st.sampled_from(sorted(WRONG)))
    value = draw(st.sampled_from(WRONG[path]))
    *sections, key = path.split(".")
    node = config
    for name in sections:
        if not isinstance(node.get(name), dict):
            node[name] = {}
        node = node[name]
    node[key] = value
    return config, (path, repr(value))


# (path, repr(value)) of wrong values the engine once accepted, or failed on with another
# error (issue 10), measured one by one: each is a regression case of its own.
FORMERLY_ACCEPTED = {
    ("bm25", "1"),
    ("bm25", "[]"),
    ("bm25.b", "'0.5'"),
    ("bm25.k1", "'x'"),
    ("bm25.k1", "None"),
    ("bm25.k1", "True"),
    ("bm25.stemmer", "''"),
    ("bm25.stemmer", "'klingon'"),
    ("bm25.stemmer", "5"),
    ("bm25.stopwords", "'klingon'"),
    ("bm25.stopwords", "3"),
    ("dense", "'x'"),
    ("dense", "5"),
    ("dense", "None"),
    ("dense", "[]"),
    ("dense.ef_construction", "1000000000"),
    ("dense.ef_search", "1000000000"),
    ("dense.exact_threshold", "'10'"),
    ("dense.exact_threshold", "2.5"),
    ("dense.filter_exact_below", "'x'"),
    ("dense.filter_exact_below", "-1"),
    ("dense.hnsw_m", "'x'"),
    ("dense.hnsw_m", "1000000000"),
    ("encoder", "'hashing:7'"),
    ("encoder", "'hashing:99999999'"),
    ("encoder", "5"),
    ("fusion", "'rrf'"),
    ("fusion.adaptive", "'no'"),
    ("fusion.adaptive", "2"),
    ("fusion.alpha", "'half'"),
    ("fusion.depth", "'5'"),
    ("fusion.depth", "1.5"),
    ("fusion.depth", "1000000000"),
    ("fusion.rrf_k", "'60'"),
    ("late", "True"),
    ("late.enabled", "'false'"),
    ("late.enabled", "'no'"),
    ("late.enabled", "1"),
    ("late.muvera", "'x'"),
    ("late.projection_dim", "'8'"),
    ("recommend.depth", "1000000000"),
    ("recommend.event_weights", "[]"),
    ("recommend.popularity_half_life_days", "'x'"),
    ("recommend.popularity_half_life_days", "-1"),
    ("text_fields", "'title'"),
}


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Path(tmp), default_encoder=ENCODER)
        engine.create("keep").add(CATALOG[:12])
        yield engine
        engine.close()


_names = (f"c{n}" for n in itertools.count())


@fuzz(25)
@given(config=valid_configs())
def test_valid_configurations_make_working_collections(
    engine: Engine, config: dict[str, Any]
) -> None:
    name = next(_names)
    col = engine.create(name, config=CollectionConfig.from_dict(config))
    stored = col.info()["config"]
    for section, values in config.items():
        for key, value in values.items() if isinstance(values, dict) else [(None, values)]:
            got = stored[section] if key is None else stored[section][key]
            assert got == value or list(got) == value, (section, key, got, value)
    col.add(CATALOG[:12])
    modes = ["lexical", "dense", "hybrid"] + (
        ["hybrid+maxsim", "muvera", "maxsim-exact"] if stored["late"]["enabled"] else []
    )
    for mode in modes:
        col.search("telescope orbit", k=5, mode=mode)
    assert_whole(engine.path / name)
    engine.delete(name)


@contextmanager
def data_folder() -> Iterator[Engine]:
    """A data folder of its own for one case (a wrongly accepted configuration could otherwise
    break the cases after it), holding one healthy collection, "keep"."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Path(tmp), default_encoder=ENCODER)
        engine.create("keep").add(CATALOG[:3])
        try:
            yield engine
        finally:
            engine.close()


def assert_nothing_left(engine: Engine, before: list[str]) -> None:
    assert sorted(p.name for p in engine.path.iterdir()) == before  # no folder left behind
    assert engine.names() == ["keep"]
    assert len(engine.get("keep").search("telescope", k=3)) > 0


def refused_by_the_api(config: dict[str, Any]) -> None:
    with data_folder() as engine:
        before = sorted(p.name for p in engine.path.iterdir())
        with pytest.raises(InvalidInput):
            # a config's encoder is used when no other is named (the engine's default is one)
            encoder = config.get("encoder") if isinstance(config, dict) else None
            engine.create("new", config=CollectionConfig.from_dict(config), encoder=encoder)
        assert_nothing_left(engine, before)


@fuzz(40)
@given(case=invalid_configs())
def test_invalid_configurations_are_refused(case: tuple[dict[str, Any], Any]) -> None:
    refused_by_the_api(case[0])


@pytest.mark.parametrize("wrong", sorted(FORMERLY_ACCEPTED))
def test_invalid_configurations_once_accepted_are_refused(wrong: tuple[str, str]) -> None:
    path, value = wrong
    *sections, key = path.split(".")
    config: dict[str, Any] = {}
    node = config
    for name in sections:
        node = node.setdefault(name, {})
    node[key] = ast.literal_eval(value)
    refused_by_the_api(config)


@fuzz(20)
@given(case=invalid_configs(), as_encoder=st.booleans())
def test_invalid_configurations_over_http_are_a_4xx(
    case: tuple[dict[str, Any], tuple[str, str]], as_encoder: bool
) -> None:
    config, (path, _) = case
    body: dict[str, Any] = {"config": config}
    if as_encoder and path == "encoder":
        body = {"encoder": config.pop("encoder"), "config": config}
    with data_folder() as engine:
        before = sorted(p.name for p in engine.path.iterdir())
        app = create_app(engine, api_key="")
        with TestClient(app, base_url="http://127.0.0.1") as client:
            response = client.post("/collections", json={"name": "new", **body})
            assert 400 <= response.status_code < 500, (response.status_code, response.text)
            assert client.get("/collections").status_code == 200
        assert_nothing_left(engine, before)


@pytest.mark.parametrize(
    "late", [{"enabled": True, "projection_dim": 8}, {"enabled": True, "projection_dim": 12}]
)
def test_a_projection_below_the_muvera_dimension_leaves_nothing(late: dict[str, Any]) -> None:
    refused_by_the_api({"late": late})
