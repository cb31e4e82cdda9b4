"""The query map: each fit recovers the relation it can represent, ``auto`` takes the better
on held-out texts, and a saved map loads back only at its dimensions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sleuth.errors import CorruptIndex, InvalidInput
from sleuth.migrate import QueryMap, fit_map
from sleuth.migrate.qmap import MIN_SAMPLE


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_procrustes_recovers_a_rotation_and_auto_takes_it_over_a_noisy_fit() -> None:
    rng = np.random.default_rng(3)
    new = unit(rng.normal(size=(60, 16)))
    rotation, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    old = unit(new @ rotation)
    found = fit_map(new, old, "procrustes")
    np.testing.assert_allclose(found.matrix, rotation, atol=1e-4)
    assert fit_map(new, old).report["heldout"]["procrustes"] > 0.999


def test_lstsq_recovers_a_map_between_dimensions_and_auto_chooses_it() -> None:
    rng = np.random.default_rng(4)
    new = unit(rng.normal(size=(400, 12)))
    squash = rng.normal(size=(12, 8)) * np.linspace(0.2, 3.0, 8)  # not orthogonal
    old = unit(new @ squash)
    chosen = fit_map(new, old)
    assert chosen.kind == "lstsq"
    assert chosen.report["heldout"]["lstsq"] > chosen.report["heldout"]["procrustes"]
    assert chosen.matrix.shape == (12, 8)
    mapped = chosen.apply(new[:5])
    np.testing.assert_allclose(np.linalg.norm(mapped, axis=1), 1.0, rtol=1e-5)
    assert float(np.min(np.sum(mapped * old[:5], axis=1))) > 0.99


def test_too_few_texts_and_unknown_kinds_are_refused() -> None:
    x = unit(np.random.default_rng(0).normal(size=(MIN_SAMPLE - 1, 4)))
    with pytest.raises(InvalidInput, match=f"at least {MIN_SAMPLE}"):
        fit_map(x, x)
    with pytest.raises(InvalidInput, match="lstsq or procrustes"):
        fit_map(x, x, "ridge")


def test_a_saved_map_loads_back_only_at_its_dimensions(tmp_path: Path) -> None:
    x = unit(np.random.default_rng(1).normal(size=(50, 6)))
    saved = fit_map(x, x[:, :4].copy())
    saved.save(tmp_path / "map.npz")
    loaded = QueryMap.load(tmp_path / "map.npz", (6, 4))
    assert loaded.kind == saved.kind and loaded.report == saved.report
    np.testing.assert_array_equal(loaded.matrix, saved.matrix)
    with pytest.raises(CorruptIndex, match="not 6x5"):
        QueryMap.load(tmp_path / "map.npz", (6, 5))
    (tmp_path / "bad.npz").write_bytes(b"not a map")
    with pytest.raises(CorruptIndex, match="unreadable"):
        QueryMap.load(tmp_path / "bad.npz", (6, 4))
