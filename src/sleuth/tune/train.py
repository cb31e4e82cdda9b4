"""The training loop: torch on CPU, seeded, one checkpoint per epoch, a deadline.

Epoch e shuffles the pairs with ``(seed, e)`` and seeds torch (dropout) with ``seed + e``, so a
run resumed from the checkpoint of epoch e - 1 continues exactly as an uninterrupted one would.
After each epoch the validation signal (``sleuth.tune.validate``) is measured; training stops
after ``patience`` epochs without a better one, or when the deadline passes (the epoch under
way then ends early, is validated and checkpointed like the others).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sleuth.progress import progress_bar
from sleuth.tune.checkpoint import Checkpoints
from sleuth.tune.config import TuneConfig
from sleuth.tune.loss import batch_mask, mnrl
from sleuth.tune.pairs import Pair

__all__ = ["Outcome", "Prepared", "fit"]


@dataclass(frozen=True)
class Prepared:
    """What training reads besides the pairs: ``texts`` (item id → indexed text, for hard
    negatives), ``guide`` (float32[n_pairs, d], the collection's query vectors of the pairs'
    queries) and ``old`` (item id → the collection's stored vector)."""

    pairs: Sequence[Pair]
    texts: dict[str, str]
    guide: np.ndarray
    old: dict[str, np.ndarray]


@dataclass
class Outcome:
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = "epochs"

    @property
    def best_epoch(self) -> int:
        trained = [h for h in self.history if h["epoch"] > 0]
        return max(trained, key=lambda h: (h["signal"], -h["epoch"]))["epoch"]


def _batch(model: Any, data: Prepared, rows: np.ndarray, config: TuneConfig) -> tuple[Any, Any]:
    """The loss of one batch of pairs, and the compatibility term (None without it)."""
    import torch

    pairs = [data.pairs[i] for i in rows]
    items = [p.item for p in pairs]
    docs = [p.positive for p in pairs]
    own: list[int | None] = []
    for p in pairs:
        if p.negative is None:
            own.append(None)
        else:
            own.append(len(items))
            items.append(p.negative)
            docs.append(data.texts[p.negative])
    old = np.stack([data.old[i] for i in items])
    mask = torch.from_numpy(batch_mask(data.guide[rows], old, items, own))
    preprocess = getattr(model, "preprocess", None) or model.tokenize
    model.max_seq_length = config.max_query_tokens
    q_features = preprocess([p.query for p in pairs])
    model.max_seq_length = config.max_doc_tokens
    d_features = preprocess(docs)
    norm = torch.nn.functional.normalize
    q = norm(model(q_features)["sentence_embedding"], dim=1)
    d = norm(model(d_features)["sentence_embedding"], dim=1)
    loss = mnrl(q, d, mask, config.scale)
    compat = mnrl(q, torch.from_numpy(old), mask, config.scale) if config.compatible else None
    return loss, compat


def _stalled(history: list[dict[str, Any]], patience: int) -> bool:
    """Whether the last ``patience`` epochs all failed to beat the best signal before them."""
    if len(history) <= patience:
        return False
    best = max(h["signal"] for h in history[:-patience])
    return all(h["signal"] <= best for h in history[-patience:])


def _schedule(config: TuneConfig, total: int) -> Callable[[int], float]:
    warm = max(1, int(config.warmup * total))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total - step) / max(1, total - warm))

    return factor


def fit(
    model: Any,
    data: Prepared,
    config: TuneConfig,
    checkpoints: Checkpoints,
    *,
    deadline: float,
    validate: Callable[[Any], dict[str, float]],
    serve_tokens: int,
    show: bool | None,
) -> Outcome:
    """Train ``model`` (loaded from the last checkpoint when there is one) in place."""
    import torch

    n = len(data.pairs)
    steps = math.ceil(n / config.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _schedule(config, steps * config.epochs)
    )
    outcome = Outcome()
    start = checkpoints.latest()
    if start:
        state, outcome.history = checkpoints.state(start)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if not outcome.history[-1]["complete"]:
            outcome.stopped = "time budget"  # resumed after the budget ran out: done
            return outcome
        if _stalled(outcome.history, config.patience):
            outcome.stopped = "no improvement"  # killed after it stopped, before the output
            return outcome
    else:
        model.max_seq_length = serve_tokens
        outcome.history.append({"epoch": 0, "complete": True, **validate(model)})
    model.train()
    with progress_bar("tuning", steps * (config.epochs - start), show) as advance:
        for epoch in range(start + 1, config.epochs + 1):
            torch.manual_seed(config.seed + epoch)
            order = np.random.default_rng((config.seed, epoch)).permutation(n)
            losses, compat_losses, done, t0 = [], [], 0, time.perf_counter()
            for s in range(steps):
                rows = order[s * config.batch_size : (s + 1) * config.batch_size]
                loss, compat = _batch(model, data, rows, config)
                total = loss if compat is None else loss + config.compat_weight * compat
                total.backward()
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                losses.append(float(loss.detach()))
                if compat is not None:
                    compat_losses.append(float(compat.detach()))
                done += 1
                advance(1)
                if time.monotonic() > deadline:
                    break
            model.max_seq_length = serve_tokens
            entry: dict[str, Any] = {
                "epoch": epoch,
                "complete": done == steps,
                "steps": done,
                "seconds": round(time.perf_counter() - t0, 1),
                "loss": round(float(np.mean(losses)), 4),
            }
            if compat_losses:
                entry["compat_loss"] = round(float(np.mean(compat_losses)), 4)
            entry.update(validate(model))
            outcome.history.append(entry)
            state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}
            checkpoints.save_epoch(epoch, model, state, outcome.history)
            if not entry["complete"]:
                outcome.stopped = "time budget"
                break
            if _stalled(outcome.history, config.patience):
                outcome.stopped = "no improvement"
                break
            if time.monotonic() > deadline and epoch < config.epochs:
                outcome.stopped = "time budget"
                break
    return outcome
