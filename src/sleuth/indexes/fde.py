"""The MUVERA index: a dense index over items' fixed-dimensional encodings (FDEs) of their token
sets, tagged with the token recipe that made them so that a file made otherwise is not loaded."""

from __future__ import annotations

from typing import Any

from sleuth.config import DenseConfig, LateConfig
from sleuth.indexes.dense import DenseIndex

__all__ = ["FDEIndex"]


class FDEIndex(DenseIndex):
    """Documents are ``float32[n, fde_dim]`` FDEs (``LateInteraction.fde``)."""

    def __init__(self, config: DenseConfig, dim: int, recipe: LateConfig) -> None:
        super().__init__(config, dim, derived_from=recipe.to_dict())  # MUVERA seed included
        self.recipe = recipe

    def info(self) -> dict[str, Any]:
        return {
            "rows": self.n_rows,
            "live": len(self),
            "dim": self.dim,
            "storage": self.storage,
            "bytes": self.nbytes,
        }
