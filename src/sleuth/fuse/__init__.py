"""Fusion is two pure steps: normalize each ranked list, then fuse the lists. ``fuse_hybrid``
(search's lexical + dense) and ``fuse_lists`` (named lists with weights) are the only two
compositions of them; everything that fuses calls one of those."""

from sleuth.fuse.adaptive import adaptive_alpha
from sleuth.fuse.combine import rrf, weighted_sum
from sleuth.fuse.hybrid import fuse_hybrid
from sleuth.fuse.lists import fuse_lists
from sleuth.fuse.normalize import NORMALIZERS, minmax, normalize_among, zscore

__all__ = [
    "NORMALIZERS",
    "adaptive_alpha",
    "fuse_hybrid",
    "fuse_lists",
    "minmax",
    "normalize_among",
    "rrf",
    "weighted_sum",
    "zscore",
]
