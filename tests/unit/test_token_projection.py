"""The late-interaction projection of token vectors: orthonormal, the recipe collections were
built with, bounded in memory for wide encoders, and never an increase in dimension."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sleuth
from sleuth.config import CollectionConfig, LateConfig
from sleuth.encoders.tokens import PROJECTION_SEED, TokenPipeline


def _late(projection_dim: int) -> LateConfig:
    return LateConfig(enabled=True, projection_dim=projection_dim)


def test_the_projection_is_the_recipe_collections_were_built_with() -> None:
    # the first columns of the QR of a seeded square Gaussian matrix: changing it would make
    # new queries miss the token vectors stored by earlier versions
    rng = np.random.default_rng(PROJECTION_SEED)
    q, _ = np.linalg.qr(rng.standard_normal((384, 384)))
    pipe = TokenPipeline(_late(128), 384)
    assert pipe.dim == 128
    assert pipe.projection is not None
    np.testing.assert_allclose(pipe.projection, q[:, :128], atol=1e-6)


def test_a_wide_encoder_draws_only_the_columns_it_needs() -> None:
    # a square draw at 65,536 dimensions would need 32 GiB
    pipe = TokenPipeline(_late(16), 65_536)
    assert pipe.projection is not None
    assert pipe.projection.shape == (65_536, 16)
    gram = pipe.projection.T.astype(np.float64) @ pipe.projection
    np.testing.assert_allclose(gram, np.eye(16), atol=1e-4)


def test_a_projection_up_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    with pytest.raises(sleuth.InvalidInput, match=r"late.projection_dim must be at most .*\(64\)"):
        TokenPipeline(_late(128), 64)
    folder = tmp_path / "col"
    with pytest.raises(sleuth.InvalidInput, match=r"late\.projection_dim"):
        sleuth.open(folder, encoder="hashing:64", config=CollectionConfig(late=_late(128)))
    assert not folder.exists()
