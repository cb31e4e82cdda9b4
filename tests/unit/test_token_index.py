"""The token-vector index: ragged rows per item, tombstones and compaction, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sleuth.config import LateConfig
from sleuth.errors import CorruptIndex
from sleuth.indexes.tokens import TokenIndex


def unit_sets(n: int, dim: int = 16, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x = rng.standard_normal((1 + i % 5, dim)).astype(np.float32)
        out.append(x / np.linalg.norm(x, axis=1, keepdims=True))
    return out


@pytest.mark.parametrize("dtype, tol", [("float16", 1e-3), ("int8", 1e-2)])
def test_compaction_keeps_every_live_item_and_files_round_trip(
    tmp_path: Path, dtype: str, tol: float
) -> None:
    config = LateConfig(enabled=True, dtype=dtype)
    index = TokenIndex(config, 16)
    sets = unit_sets(10)
    index.add(np.arange(10), sets)
    index.remove([1, 3, 5])  # 30% dead: compacted
    assert index.n_rows == len(index) == 7
    assert index.n_tokens == sum(len(sets[d]) for d in range(10) if d not in (1, 3, 5))
    for d in (0, 2, 4, 6, 7, 8, 9):
        np.testing.assert_allclose(index.tokens_of(d), sets[d], atol=tol)
    assert index.tokens_of(3) is None
    query = sets[8][:2]
    docnos, scores = index.rerank(query, np.array([9, 8, 3, 0]))
    assert docnos[0] == 8 and 3 not in docnos and scores[0] == pytest.approx(2.0, abs=2 * tol)
    index.seq = 11
    index.save(tmp_path / "tokens.npz")
    loaded = TokenIndex.load(tmp_path / "tokens.npz", config, 16)
    assert loaded is not None and loaded.seq == 11
    for d in (0, 8):
        np.testing.assert_array_equal(loaded.tokens_of(d), index.tokens_of(d))
    found = loaded.search_batch([query], 3)
    assert found.docnos[0, 0] == 8
    assert (
        TokenIndex.load(tmp_path / "tokens.npz", LateConfig(enabled=True, pool_factor=2), 16)
        is None
    )
    (tmp_path / "tokens.npz").write_bytes(b"garbage")
    with pytest.raises(CorruptIndex):
        TokenIndex.load(tmp_path / "tokens.npz", config, 16)


def test_exact_search_respects_the_docno_mask() -> None:
    index = TokenIndex(LateConfig(enabled=True), 16)
    sets = unit_sets(6, seed=1)
    index.add(np.arange(6), sets)
    mask = np.array([True, False, True, False, True, False])
    found = index.search_batch([sets[1]], 6, mask)
    assert set(found.docnos[0][found.docnos[0] >= 0].tolist()) == {0, 2, 4}
