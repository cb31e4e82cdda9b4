"""Fusion is two pure steps: normalize each ranked list, then fuse the lists."""

from sleuth.fuse.adaptive import adaptive_alpha
from sleuth.fuse.combine import rrf, weighted_sum
from sleuth.fuse.normalize import NORMALIZERS, minmax, zscore

__all__ = ["NORMALIZERS", "adaptive_alpha", "minmax", "rrf", "weighted_sum", "zscore"]
