"""One suite every encoder passes: the hashing encoder at two sizes and MiniLM, named and given
by its folder (the model cases are marked ``model``; the model loads once per module)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from sleuth.encoders import Encoder, HashingEncoder, get_encoder

TEXTS = [
    "A telescope shows the rings of Saturn on a clear night.",
    "Knead the dough, then bake the bread in a hot oven.",
    "The harbor was calm, so the boat dropped anchor early.",
    "Compost feeds the soil before the tomatoes are planted.",
    "short",
    "Sorting a list of numbers in Python with the sorted function and a key.",
]
# (text, a near duplicate of it, an unrelated text): the near duplicate must be closer
TRIPLES = [
    (
        "The cat sat quietly on the warm kitchen mat.",
        "The cat sat quietly on a warm kitchen mat.",
        "Quarterly corporate tax filings are due in April.",
    ),
    (
        "How to replace the chain on a mountain bike",
        "how to replace a mountain bike chain",
        "Symptoms and treatment of seasonal influenza",
    ),
]


def _minilm_path() -> Encoder:
    from sleuth.encoders.sentence import bundled_minilm

    return get_encoder(str(bundled_minilm()))


CASES: dict[str, Callable[[], Encoder]] = {
    "hashing": lambda: get_encoder("hashing"),
    "hashing:64": lambda: get_encoder("hashing:64"),
    "minilm": lambda: get_encoder("minilm"),
    "minilm-folder": _minilm_path,
}
MODEL = {"minilm", "minilm-folder"}


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(name, marks=[pytest.mark.model] if name in MODEL else []) for name in CASES
    ],
)
def enc(request: pytest.FixtureRequest) -> Encoder:
    encoder = CASES[request.param]()
    encoder.encode(["warm up"])  # a model loads here, once per module
    return encoder


def _unit(v: np.ndarray) -> None:
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_vectors_have_the_stated_dim_and_unit_length(enc: Encoder) -> None:
    out = enc.encode(TEXTS)
    assert isinstance(enc.dim, int) and enc.dim > 0
    assert out.vectors.shape == (len(TEXTS), enc.dim) and out.vectors.dtype == np.float32
    assert np.isfinite(out.vectors).all()
    _unit(out.vectors)
    assert out.tokens is None  # only when asked for
    assert enc.encode([]).vectors.shape == (0, enc.dim)


def test_encoding_is_deterministic(enc: Encoder) -> None:
    np.testing.assert_array_equal(enc.encode(TEXTS).vectors, enc.encode(TEXTS).vectors)


def test_a_batch_equals_its_texts_one_by_one(enc: Encoder) -> None:
    together = enc.encode(TEXTS, batch_size=4).vectors
    alone = np.concatenate([enc.encode([t]).vectors for t in TEXTS])
    # BLAS paths (another batch shape, padding) agree to float noise, not bit for bit
    np.testing.assert_allclose(together, alone, atol=1e-5)
    reversed_ = enc.encode(TEXTS[::-1]).vectors  # in the order given
    np.testing.assert_allclose(reversed_[::-1], together, atol=1e-5)


def test_queries_encode_to_the_same_space(enc: Encoder) -> None:
    q = enc.encode_queries(TEXTS)
    assert q.shape == (len(TEXTS), enc.dim) and q.dtype == np.float32
    _unit(q)
    # a query is closest to the document with its own text (symmetric encoders: the same vector)
    sims = q @ enc.encode(TEXTS).vectors.T
    assert (np.argmax(sims, axis=1) == np.arange(len(TEXTS))).all()


def test_id_and_spec_are_stable_and_recreate_the_encoder(enc: Encoder) -> None:
    assert isinstance(enc.id, str) and enc.id and isinstance(enc.spec, str) and enc.spec
    again = get_encoder(enc.spec)
    assert again.id == enc.id and again.spec == enc.spec and again.dim == enc.dim
    assert enc.id == enc.id and enc.spec == enc.spec  # properties, not fresh values per call
    np.testing.assert_allclose(again.encode(TEXTS[:2]).vectors, enc.encode(TEXTS[:2]).vectors)


def test_token_vectors_come_per_text_with_the_encoders_width(enc: Encoder) -> None:
    if not enc.supports_tokens:
        pytest.skip(f"{enc.id} has no token vectors")
    out = enc.encode(TEXTS, tokens=True)
    assert out.tokens is not None and len(out.tokens) == len(TEXTS)
    for text, tok in zip(TEXTS, out.tokens):
        assert tok.vectors.ndim == 2 and tok.vectors.shape[1] == enc.dim, text
        assert tok.vectors.shape[0] == len(tok.pieces) >= 1, text
        assert np.isfinite(tok.vectors).all()
    assert len(out.tokens[TEXTS.index("short")].pieces) < len(out.tokens[0].pieces)
    # the pooled vectors of the same pass are the ones ``encode`` gives
    np.testing.assert_allclose(out.vectors, enc.encode(TEXTS).vectors, atol=1e-4)
    q = enc.encode_query_tokens(TEXTS[:2])
    assert q.tokens is not None and len(q.tokens) == 2
    assert all(t.vectors.shape[1] == enc.dim for t in q.tokens)
    for a, b in zip(q.tokens, out.tokens):
        assert a.pieces == b.pieces
        np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-4)


@pytest.mark.parametrize("triple", TRIPLES, ids=["cat", "bike"])
def test_a_near_duplicate_is_closer_than_an_unrelated_text(
    enc: Encoder, triple: tuple[str, str, str]
) -> None:
    v = enc.encode(list(triple)).vectors
    assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.1
    q = enc.encode_queries([triple[0]])[0]
    assert float(q @ v[1]) > float(q @ v[2])


def test_a_text_without_words_encodes_to_finite_values(enc: Encoder) -> None:
    # The hashing encoder has no feature for a text without words: its vector is zero (not
    # unit, and never NaN from dividing by a zero norm); a model still gives a unit vector.
    out = enc.encode(["", "?!", "word"], tokens=enc.supports_tokens)
    assert np.isfinite(out.vectors).all()
    norms = np.linalg.norm(out.vectors, axis=1)
    want_zero = isinstance(enc, HashingEncoder)
    np.testing.assert_allclose(norms[:2], 0.0 if want_zero else 1.0, atol=1e-5)
    np.testing.assert_allclose(norms[2], 1.0, atol=1e-5)
    if out.tokens is not None:
        assert len(out.tokens) == 3 and out.tokens[0].vectors.shape == (0, enc.dim)
    assert np.isfinite(enc.encode_queries(["", "?!"])).all()
