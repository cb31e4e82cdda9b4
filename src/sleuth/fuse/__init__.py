"""Fusion is two pure steps: normalize each ranked list, then fuse the lists."""

from sleuth.fuse.adaptive import adaptive_alpha
from sleuth.fuse.combine import rrf, weighted_sum
from sleuth.fuse.lists import fuse_lists
from sleuth.fuse.normalize import NORMALIZERS, minmax, normalize_among, zscore

__all__ = [
    "NORMALIZERS",
    "adaptive_alpha",
    "fuse_lists",
    "minmax",
    "normalize_among",
    "rrf",
    "weighted_sum",
    "zscore",
]
