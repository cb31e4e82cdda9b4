"""The training loop: torch on CPU, seeded, one checkpoint per epoch, a deadline.

Epoch e shuffles the pairs with ``(seed, e)`` and seeds torch (dropout) with ``seed + e``, so a
run resumed from the checkpoint of epoch e - 1 continues exactly as an uninterrupted one would.
After each epoch the validation signal (``sleuth.tune.validate``) is measured; training stops
after ``patience`` epochs without a better one, or when the deadline passes (the epoch under
way then ends early, is validated and checkpointed like the others, with its step and dropout
state: a later run with a larger budget goes on from the next step, as if never stopped).
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


def _batch(
    model: Any, data: Prepared, rows: np.ndarray, config: TuneConfig
) -> tuple[Any, Any, Any]:
    """The loss of one batch of pairs, the compatibility term and the anchor term (each None
    when its weight is 0)."""
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
    norm = torch.nn.functional.normalize
    q = norm(model(preprocess([p.query for p in pairs]))["sentence_embedding"], dim=1)
    stored = torch.from_numpy(old)
    if not config.documents:  # query-side tuning: the stored vectors are the documents
        return mnrl(q, stored, mask, config.scale), None, None
    model.max_seq_length = config.max_doc_tokens
    d = norm(model(preprocess(docs))["sentence_embedding"], dim=1)
    loss = mnrl(q, d, mask, config.scale)
    compat = mnrl(q, stored, mask, config.scale) if config.compatible else None
    anchor = (1.0 - (d * stored).sum(dim=1)).mean() if config.anchor > 0 else None
    return loss, compat, anchor


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
    skip: dict[str, Any] = {}  # the unfinished epoch a budget stopped: its steps and losses
    if start:
        state, outcome.history = checkpoints.state(start)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if not outcome.history[-1]["complete"]:
            # a budget stopped this epoch: go on from its next step with its dropout state
            skip = {**state["partial"], "rng": state["rng"]}
            outcome.history.pop()
            start -= 1
        elif _stalled(outcome.history, config.patience):
            outcome.stopped = "no improvement"  # killed after it stopped, before the output
            return outcome
    else:
        model.max_seq_length = serve_tokens
        outcome.history.append({"epoch": 0, "complete": True, **validate(model)})
    model.train()
    left = steps * (config.epochs - start) - len(skip.get("losses", []))
    with progress_bar("tuning", left, show) as advance:
        for epoch in range(start + 1, config.epochs + 1):
            torch.manual_seed(config.seed + epoch)
            order = np.random.default_rng((config.seed, epoch)).permutation(n)
            losses: list[float] = list(skip.get("losses", []))
            compat_losses: list[float] = list(skip.get("compat_losses", []))
            done, t0 = len(losses), time.perf_counter()
            if skip:
                torch.set_rng_state(skip["rng"])
                skip = {}
            for s in range(done, steps):
                rows = order[s * config.batch_size : (s + 1) * config.batch_size]
                loss, compat, anchor = _batch(model, data, rows, config)
                total = loss if compat is None else loss + config.compat_weight * compat
                if anchor is not None:
                    total = total + config.anchor * anchor
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
            rng = torch.get_rng_state()  # before validation, for a resumed epoch
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
            state = {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng,
                "partial": {"losses": losses, "compat_losses": compat_losses},
            }
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
