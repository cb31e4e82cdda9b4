"""Vectors that users bring: one item's or query's vector checked and made unit length, a bulk
``float32[n, dim]`` array checked a chunk at a time (never as Python lists), and the key a given
vector is stored under.

The default space compares vectors by cosine (the index holds unit rows and scores inner
products, as for the encoders' vectors), so a given vector is L2-normalized on the way in and
one of all zeros is refused; ``normalize=False`` keeps vectors as given, zeros included (the
``dot`` and ``l2`` metrics of named spaces, ``sleuth.spaces``). A vector must hold between 1
and ``MAX_DIM`` finite numbers that a float32 holds; the collection's dimension is checked
where it is known (``check_dim``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np

from sleuth.errors import InvalidInput

__all__ = [
    "MAX_DIM",
    "VECTORS_KEY",
    "VECTOR_KEY",
    "check_dim",
    "check_matrix",
    "check_vector",
    "is_vector_key",
    "vector_keys",
]

MAX_DIM = 65_536  # numbers in one vector (the hashing encoder's bound too)
VECTOR_KEY = "vector"  # the reserved item key
VECTORS_KEY = "vectors"  # the item's vectors in named spaces (``sleuth.spaces``)
_F32_MAX = float(np.finfo(np.float32).max)
_CHUNK = 4096  # rows of a bulk array checked at a time (float64 temporaries that stay in cache)
_ALLOWED = f"a list of 1 to {MAX_DIM} finite numbers (no strings, booleans, nulls or nested lists)"


def check_vector(value: Any, what: str = "vector", *, normalize: bool = True) -> np.ndarray:
    """``float32[d]`` of unit length (as given without ``normalize``) from a list/tuple of
    numbers or a 1-d numeric array, or ``InvalidInput`` naming ``what`` and what is allowed.

    >>> check_vector([3, 4]).tolist()
    [0.6000000238418579, 0.800000011920929]
    """
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or value.dtype.kind not in "fiu":
            raise InvalidInput(
                f"{what} must be {_ALLOWED}, got an array of {value.dtype} with shape "
                f"{value.shape}",
                allowed=_ALLOWED,
            )
        numbers = value.astype(np.float64)
    elif isinstance(value, list | tuple):
        for i, x in enumerate(value[: MAX_DIM + 1]):
            if isinstance(x, bool | np.bool_) or not isinstance(x, int | float | np.number):
                raise InvalidInput(
                    f"{what}[{i}] is {type(x).__name__} {x!r:.40}; a vector must be {_ALLOWED}",
                    position=i,
                    allowed=_ALLOWED,
                )
        try:
            numbers = np.array(value[: MAX_DIM + 1], np.float64) if value else np.zeros(0)
        except OverflowError:  # an integer beyond any float
            numbers = np.array(
                [float(x) if abs(x) < 1e300 else np.inf for x in value[: MAX_DIM + 1]]
            )
    else:
        raise InvalidInput(
            f"{what} must be {_ALLOWED}, got {type(value).__name__} {value!r:.40}",
            allowed=_ALLOWED,
        )
    if numbers.size == 0:
        raise InvalidInput(f"{what} is empty; it must be {_ALLOWED}", allowed=_ALLOWED)
    if numbers.size > MAX_DIM:
        raise InvalidInput(
            f"{what} has more than {MAX_DIM} numbers; it must be {_ALLOWED}", allowed=_ALLOWED
        )
    bad = np.flatnonzero(~np.isfinite(numbers) | (np.abs(numbers) > _F32_MAX))
    if bad.size:
        raise InvalidInput(
            f"{what}[{bad[0]}] is {float(numbers[bad[0]])!r}; a vector holds finite numbers "
            f"that fit a float32 (|x| <= {_F32_MAX:.3g})",
            position=int(bad[0]),
        )
    if not normalize:
        return numbers.astype(np.float32)
    norm = float(np.linalg.norm(numbers))
    if norm == 0.0:
        raise InvalidInput(
            f"{what} is all zeros; vectors are compared by cosine, which needs a non-zero one"
        )
    return (numbers / norm).astype(np.float32)


def check_dim(vector: np.ndarray, dim: int, what: str, owner: str) -> None:
    """``InvalidInput`` unless ``vector`` has the collection's ``dim`` numbers."""
    if vector.shape[-1] != dim:
        raise InvalidInput(
            f"{what} has {vector.shape[-1]} numbers; {owner} takes vectors of {dim}",
            dim=dim,
            got=int(vector.shape[-1]),
        )


def check_matrix(
    array: Any,
    n: int,
    dim: int,
    label: Callable[[int], str],
    owner: str,
    of: str = "item",
    *,
    normalize: bool = True,
) -> np.ndarray:
    """``float32[n, dim]``, unit rows (as given without ``normalize``), from a numeric
    ``[n, dim]`` array (a memmap is read a chunk at a time); ``label(row)`` names a bad row's
    item in the error.

    >>> check_matrix(np.ones((2, 2)), 2, 2, str, "it")[0].round(3).tolist()
    [0.707, 0.707]
    """
    if not isinstance(array, np.ndarray):
        raise InvalidInput(
            f"vectors must be a numpy array of shape [{n}, {dim}], one row per {of} "
            f"(np.load(path, mmap_mode='r') reads a .npy file), got {type(array).__name__}"
        )
    if array.dtype.kind not in "fiu" or array.ndim != 2 or array.shape != (n, dim):
        raise InvalidInput(
            f"vectors must be a numeric array of shape [{n}, {dim}] (one row per {of}; "
            f"{owner} takes {dim} numbers), got {array.dtype} with shape {array.shape}",
            shape=list(array.shape),
            expected=[n, dim],
        )
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, _CHUNK):
        given = np.asarray(array[start : start + _CHUNK])
        chunk = given.astype(np.float64)
        # float32 numbers fit a float32: a chunk of them is bad only where one is not finite
        if given.dtype == np.float32 and bool(np.isfinite(given).all()):
            bad = np.zeros((0, dim), bool)
            norms = np.linalg.norm(chunk, axis=1)
            rows = np.flatnonzero((norms == 0.0) & normalize)
        else:
            bad = ~np.isfinite(chunk) | (np.abs(chunk) > _F32_MAX)
            norms = np.linalg.norm(np.where(bad, 0.0, chunk), axis=1)
            rows = np.flatnonzero(bad.any(axis=1) | ((norms == 0.0) & normalize))
        if rows.size:
            row = start + int(rows[0])
            column = np.flatnonzero(bad[rows[0]]) if bad.size else np.zeros(0, np.int64)
            why = (
                f"[{column[0]}] is {float(chunk[rows[0], column[0]])!r} (vectors hold finite "
                "numbers that fit a float32)"
                if column.size
                else " is all zeros (cosine needs a non-zero vector)"
            )
            raise InvalidInput(
                f"{label(row)}: its vector (row {row}){why}; nothing was written",
                index=row,
            )
        out[start : start + chunk.shape[0]] = chunk / norms[:, None] if normalize else chunk
    return out


def vector_keys(matrix: np.ndarray) -> list[str]:
    """The key each row of ``float32[n, dim]`` unit vectors is stored under in the store's
    vectors table: ``"v:"`` and a digest of its bytes.

    Text vectors are keyed by the content hash of the text (32 hex digits, see
    ``sleuth.encoders.cache``); a given vector by a digest of the vector itself, with a
    prefix no content hash has. So the two never share a key: the cache cannot serve an
    encoder's vector for an item whose vector was given, nor a given vector for a text; an
    upsert that changes only the vector changes the item's key (an update), one that gives
    the same vector again keeps it (unchanged); and two items with the same vector share one
    row. Collections written before vectors could be given hold only content hashes, which
    keep their meaning."""
    rows = np.ascontiguousarray(matrix, np.float32)
    return [_key(memoryview(row)) for row in rows]


def _key(data: Any) -> str:
    return "v:" + hashlib.sha256(data).hexdigest()[:32]


def is_vector_key(key: str) -> bool:
    """Whether a stored key is a given vector's (it cannot be encoded again from text)."""
    return key.startswith("v:")
