"""The SASRec network (causal self-attention blocks over item tokens) and the batches it is
trained on: users' sequences cut into windows, grouped by length, padded."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sleuth.recommend.interactions import Interactions

__all__ = ["Block", "Net", "batches", "pad", "windows"]

BUCKET = 4  # batches sorted by length together, so that a batch pads little


class Block(nn.Module):
    """Pre-norm causal self-attention and a pointwise feed-forward, each with a residual."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.ffn = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).unbind(2)
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))  # [b, heads, t, d/heads]
        # no dropout on the attention weights: it triples the attention's cost on CPU
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        x = x + self.drop(self.out(att.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.ffn(self.norm2(x)))


class Net(nn.Module):
    """Token 0 pads; item code ``i`` is token ``i + 1``. Positions count from the first item of
    the window, so a prefix gets the same states in training as when it is scored."""

    def __init__(
        self, n_items: int, dim: int, blocks: int, heads: int, max_len: int, dropout: float
    ):
        super().__init__()
        self.items = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.positions = nn.Embedding(max_len, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, dropout) for _ in range(blocks))
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        for p in (self.items.weight, self.positions.weight):
            nn.init.normal_(p, std=0.02)
        with torch.no_grad():
            self.items.weight[0].zero_()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: int64[b, t] padded with 0 on either side -> float32[b, t, dim]."""
        real = tokens > 0
        pos = (real.cumsum(1) - 1).clamp(min=0)
        x = self.drop(self.items(tokens) + self.positions(pos)) * real[..., None]
        t = tokens.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        # a query sees earlier real items, and always itself (so padded rows have no all -inf row)
        allowed = (causal & real[:, None, :]) | torch.eye(t, dtype=torch.bool)
        allowed = allowed[:, None]
        for block in self.blocks:
            x = block(x, allowed) * real[..., None]
        return self.norm(x)

    def logits(self, states: torch.Tensor) -> torch.Tensor:
        """float32[..., dim] -> float32[..., n_items] (the input embeddings, shared)."""
        return states @ self.items.weight[1:].T


def windows(data: Interactions, max_len: int) -> list[np.ndarray]:
    """Each user's tokens cut from the end into windows of ``max_len + 1`` (inputs and their
    next items), so every event is a target once; windows of one event teach nothing."""
    out = []
    for u in range(data.n_users):
        seq = data.items[data.starts[u] : data.starts[u + 1]] + 1
        end = seq.size
        while end >= 2:
            out.append(seq[max(0, end - max_len - 1) : end])
            end -= max_len
    return out


def batches(lengths: torch.Tensor, size: int, shuffle: torch.Generator) -> list[torch.Tensor]:
    """Shuffled batches of window indices. Within each group of ``BUCKET`` batches the windows
    are sorted by length, so a batch pads little; the batches are then shuffled."""
    order = torch.randperm(lengths.numel(), generator=shuffle)
    batches: list[torch.Tensor] = []
    for start in range(0, order.numel(), size * BUCKET):
        group = order[start : start + size * BUCKET]
        group = group[torch.argsort(lengths[group], stable=True)]
        batches.extend(group.split(size))
    return [batches[i] for i in torch.randperm(len(batches), generator=shuffle).tolist()]


def pad(seqs: Sequence[np.ndarray], *, left: bool) -> torch.Tensor:
    """int64[len(seqs), longest] with 0 before (``left``) or after each sequence."""
    width = max((s.size for s in seqs), default=0) or 1
    out = np.zeros((len(seqs), width), np.int64)
    for r, s in enumerate(seqs):
        if left:
            out[r, width - s.size :] = s
        else:
            out[r, : s.size] = s
    return torch.from_numpy(out)
