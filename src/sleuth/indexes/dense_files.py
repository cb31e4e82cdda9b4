"""What the dense index reads from files besides its own arrays: the names its manifest gives
(the files a save must not remove yet), the codes and vector file of compressed storage, and
the vectors of an HNSW graph file of an earlier version (float32 indexes above the threshold
were faiss ``IndexHNSWFlat`` graphs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from sleuth.errors import CorruptIndex
from sleuth.indexes.compressed import Codes
from sleuth.indexes.vectorfile import FullVectors

__all__ = ["compressed_files", "hnsw_vectors", "names_in"]


def names_in(path: Path) -> dict[str, Any]:
    """The manifest of the index file at ``path`` (empty when absent or unreadable)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            manifest = json.loads(data["__manifest__"].tobytes())
    except Exception:  # absent, damaged, of another kind: names nothing to keep
        return {}
    return manifest if isinstance(manifest, dict) else {}


def hnsw_vectors(path: Path, blob: np.ndarray, n_rows: int, dim: int) -> np.ndarray:
    """``float32[n_rows, dim]``: a copy of the vectors the serialized HNSW graph holds."""
    try:
        graph: Any = faiss.deserialize_index(blob)
    except RuntimeError as exc:
        raise CorruptIndex(f"{path}: unreadable HNSW graph: {exc}") from None
    if graph.ntotal != n_rows or graph.d != dim:
        raise CorruptIndex(f"{path}: HNSW graph does not match its rows")
    storage: Any = faiss.downcast_index(graph.storage)
    flat = faiss.rev_swig_ptr(storage.get_xb(), n_rows * dim)
    return np.array(flat, np.float32).reshape(n_rows, dim)


def compressed_files(
    path: Path,
    manifest: dict[str, Any],
    arrays: dict[str, np.ndarray],
    storage: str,
    n_rows: int,
    dim: int,
) -> tuple[FullVectors, Codes | None, int]:
    """A compressed index file's vector file, codes (None when it has no rows) and the rows
    its int8 ranges were learned from; CorruptIndex when they do not match its rows."""
    full = FullVectors.open(path, manifest.get("full_vectors"), n_rows, dim)
    trained = manifest.get("trained_rows")
    if not isinstance(trained, int) or ("codes" in arrays) != (n_rows > 0):
        raise CorruptIndex(f"{path}: its codes do not match its rows", path=str(path))
    if n_rows == 0:
        return full, None, trained
    try:
        codes = Codes.deserialize(storage, dim, arrays["codes"], bool(manifest.get("graph")))
    except RuntimeError as exc:
        raise CorruptIndex(f"{path}: unreadable {storage} codes: {exc}") from None
    if codes.ntotal != n_rows:
        raise CorruptIndex(f"{path}: its codes do not match its rows", path=str(path))
    return full, codes, trained
