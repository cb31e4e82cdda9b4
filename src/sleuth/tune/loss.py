"""The training objective: multiple-negatives ranking loss (in-batch negatives plus one hard
negative per pair) with a guide's veto, and the backward-compatibility term.

Each query's columns are every document of the batch: the pairs' positives, then their hard
negatives. A column is left out of query i's softmax (GISTEmbed) when it is i's own item in
another pair, or when the guide (the collection's current vectors and query encoder) scores
it above i's positive: an unlabeled positive is not pushed away. i's own hard negative was
vetted when mined and is always kept.

``compatible`` (BT²-style): the same loss over the *new* query vectors against the *old*
documents' vectors (frozen, the collection's stored ones), so that the new model's queries
keep ranking the vectors already indexed while its own query–document geometry improves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["batch_mask", "mnrl"]


def batch_mask(
    guide: np.ndarray, old: np.ndarray, column_items: list[str], own_negative: list[int | None]
) -> np.ndarray:
    """``bool[B, C]``, True where a column is left out of a query's softmax. ``guide:
    float32[B, d]`` the guide's query vectors; ``old: float32[C, d]`` the guide's vectors of
    the columns, whose first B are the queries' positives (column i: query i's)."""
    b = guide.shape[0]
    scores = guide @ old.T
    rows = np.arange(b)
    mask = scores > scores[rows, rows][:, None]
    items = np.array(column_items, dtype=object)
    mask |= items[None, :] == items[:b, None]
    mask[rows, rows] = False
    for i, col in enumerate(own_negative):
        if col is not None:
            mask[i, col] = False
    return mask


def mnrl(queries: Any, docs: Any, mask: Any, scale: float) -> Any:
    """Cross-entropy of each query's positive (column i) against its other columns.
    ``queries: float[B, d]``, ``docs: float[C, d]`` (unit length, torch), ``mask: bool[B, C]``."""
    import torch

    scores = (queries @ docs.T) * scale
    scores = scores.masked_fill(mask, float("-inf"))
    return torch.nn.functional.cross_entropy(scores, torch.arange(queries.shape[0]))
