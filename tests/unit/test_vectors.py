"""Vectors users bring: one checked and made unit length, a bulk array checked in chunks, the
keys they are stored under, the "none" encoder, and the ``dim`` of a configuration."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from sleuth.config import CollectionConfig
from sleuth.encoders import NoEncoder, get_encoder
from sleuth.encoders.cache import content_hash
from sleuth.errors import InvalidInput
from sleuth.types import Item, parse_item
from sleuth.vectors import MAX_DIM, check_matrix, check_vector, is_vector_key, vector_keys

FIELDS = ("title", "text")


def test_a_vector_is_made_unit_length_float32() -> None:
    out = check_vector([3, 4.0])
    assert out.dtype == np.float32 and out.tolist() == pytest.approx([0.6, 0.8])
    assert check_vector(np.array([0, 2], np.int64)).tolist() == [0.0, 1.0]
    assert check_vector((1e30, 1e30)).tolist() == pytest.approx([math.sqrt(0.5)] * 2)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ([], "is empty"),
        ([1.0, "2"], "vector[1] is str"),
        ([True, 1.0], "vector[0] is bool"),
        ([1.0, None], "vector[1] is NoneType"),
        ([[1.0], [2.0]], "vector[0] is list"),
        ([1.0, float("nan")], "vector[1] is nan"),
        ([float("-inf"), 1.0], "vector[0] is -inf"),
        ([1e39, 1.0], "fit a float32"),
        ([1.0, 10**400], "vector[1] is inf"),
        ([0, 0.0, 0], "all zeros"),
        ([0.5] * (MAX_DIM + 1), f"more than {MAX_DIM}"),
        ("0.1,0.2", "got str"),
        ({"a": 1.0}, "got dict"),
        (0.5, "got float"),
        (np.array(["1.0"]), "array of <U3"),
        (np.ones((2, 2)), "shape (2, 2)"),
        (np.array([True, False]), "array of bool"),
    ],
)
def test_a_bad_vector_says_what_is_wrong_and_what_is_allowed(value: Any, says: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_vector(value)
    assert says in err.value.message
    assert "finite" in err.value.message or "non-zero" in err.value.message


def test_a_bulk_array_is_checked_per_row_and_names_the_item() -> None:
    good = np.arange(1, 13, dtype=np.float64).reshape(3, 4)
    out = check_matrix(good, 3, 4, lambda i: f"item {i}", "it")
    assert out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0)
    with_nan, with_zeros = good.copy(), good.copy()
    with_nan[2, 1] = np.nan
    with_zeros[1] = 0.0
    for bad, row, says in ((with_nan, 2, "[1] is nan"), (with_zeros, 1, "all zeros")):
        with pytest.raises(InvalidInput) as err:
            check_matrix(bad, 3, 4, lambda i: f"item {i}", "it")
        assert err.value.message.startswith(f"item {row}: its vector (row {row})")
        assert says in err.value.message and err.value.details["index"] == row
    for shape in ((3, 5), (2, 4), (3,)):
        with pytest.raises(InvalidInput, match=r"shape \[3, 4\]"):
            check_matrix(np.ones(shape), 3, 4, str, "it")
    with pytest.raises(InvalidInput, match="numpy array"):
        check_matrix([[1.0] * 4] * 3, 3, 4, str, "it")


def test_a_memmap_is_read_without_lists(tmp_path: Any) -> None:
    array = np.random.default_rng(0).standard_normal((70_000, 8)).astype(np.float32)
    np.save(tmp_path / "v.npy", array)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    out = check_matrix(mapped, 70_000, 8, str, "it")  # more rows than one chunk
    assert np.allclose(out, array / np.linalg.norm(array, axis=1, keepdims=True), atol=1e-6)


def test_vector_keys_never_meet_content_hashes() -> None:
    unit = check_vector([1.0, 2.0, 3.0])
    keys = vector_keys(np.stack([unit, unit, check_vector([3.0, 2.0, 1.0])]))
    assert keys[0] == keys[1] != keys[2]
    assert all(is_vector_key(k) for k in keys)
    assert not is_vector_key(content_hash("some text"))
    # the same direction given at another length is the same vector
    assert vector_keys(check_vector([2.0, 4.0, 6.0])[None])[0] == keys[0]


def test_an_item_may_bring_its_vector_and_then_needs_no_text() -> None:
    item = parse_item({"id": "a", "vector": [1.0, 1.0], "kind": "x"}, FIELDS)
    assert item.fields == {} and item.attributes == {"kind": "x"}
    assert item.vector is not None and item.vector.tolist() == pytest.approx([0.7071068] * 2)
    assert "vector" not in item.to_dict()
    assert parse_item(item, FIELDS).vector is not None  # an Item keeps its vector
    assert parse_item({"id": "a", "title": "t", "vector": None}, FIELDS).vector is None
    assert parse_item({"id": "a"}, FIELDS, vector_given=True).fields == {}
    with pytest.raises(InvalidInput, match="has no text"):
        parse_item({"id": "a"}, FIELDS)
    with pytest.raises(InvalidInput, match=r"item 'a': vector\[0\] is str") as err:
        parse_item({"id": "a", "vector": ["x"]}, FIELDS)
    assert err.value.details["id"] == "a" and err.value.details["field"] == "vector"
    with pytest.raises(InvalidInput, match="has no text"):  # a named space is not the default
        parse_item({"id": "a", "vectors": {"img": [1.0]}}, FIELDS)
    assert Item(id="a") == Item(id="a", vector=np.ones(2, np.float32))  # not compared


def test_the_none_encoder_needs_a_dimension_and_encodes_nothing() -> None:
    enc = get_encoder("none", dim=8)
    assert isinstance(enc, NoEncoder) and enc.id == enc.spec == "none:8" and enc.dim == 8
    assert not enc.encodes_text and get_encoder("none:8").id == "none:8"
    with pytest.raises(InvalidInput, match=r"needs the dimension.*dim=384"):
        get_encoder("none")
    with pytest.raises(InvalidInput, match="vector"):
        enc.encode(["text"])
    with pytest.raises(InvalidInput, match="vector="):
        enc.encode_queries(["text"])
    for dim in (0, MAX_DIM + 1, True, 2.5):
        with pytest.raises(InvalidInput, match="dim"):
            get_encoder("none", dim=dim)  # type: ignore[arg-type]
    assert get_encoder("hashing:16", dim=16).dim == 16
    with pytest.raises(InvalidInput, match="does not match encoder 'hashing:16'"):
        get_encoder("hashing:16", dim=32)


def test_the_configuration_holds_the_dimension_and_reserves_vector() -> None:
    config = CollectionConfig(encoder="none", dim=384)
    assert CollectionConfig.from_dict(config.to_dict()) == config
    assert CollectionConfig.from_dict({"text_fields": ["title"]}).dim is None  # older configs
    for bad in (0, -1, 70_000, "384", 3.5, True):
        with pytest.raises(InvalidInput, match="dim"):
            CollectionConfig(dim=bad)  # type: ignore[arg-type]
    for name in ("vector", "vectors"):
        with pytest.raises(InvalidInput, match="reserved"):
            CollectionConfig(text_fields=("title", name))
