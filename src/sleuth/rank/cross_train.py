"""``Collection.train_reranker``: a cross-encoder fine-tuned from the bundled MiniLM's weights
(sentence-transformers ``CrossEncoder``, one label) on the collection's judgments or clicks.

- Data: the judged (or clicked) queries, read and checked as the learned ranker reads them
  (``sleuth.rank.trainer.labels``). A seeded fifth of them (at least 5 queries needed) is held
  out; the rest train. Each positive makes a group: it and ``negatives`` hard negatives drawn
  (seeded) from the query's hybrid top ``pool`` minus its positives.
- Loss: softmax cross-entropy over each group (the positive against its negatives), AdamW,
  linear warm-up and decay. Torch on CPU; epoch e shuffles with ``(seed, e)`` and seeds
  dropout with ``seed + e``, so a run resumed from epoch e - 1's checkpoint
  (``sleuth.tune.checkpoint``, ``models/checkpoints/reranker-<key>/``) continues exactly as an
  uninterrupted one. ``minutes`` stops training at the first step past the budget.
- Serving: on the held-out queries, every depth of ``depths`` and weight of ``weights`` is
  scored (nDCG@10 of the hybrid list reranked); the best is the reranker's default blend.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sleuth._version import __version__
from sleuth.checks import is_int
from sleuth.errors import InvalidInput
from sleuth.progress import progress_bar
from sleuth.rank.cross import (
    DEFAULT_DEPTH,
    DEFAULT_WEIGHT,
    CrossModel,
    item_text,
    offline,
    rerank_list,
)
from sleuth.rank.cross_saved import FORMAT
from sleuth.tune.checkpoint import Checkpoints

__all__ = ["CrossTraining", "Groups", "choose_blend", "groups_of", "train_cross"]

MIN_HELD_OUT = 5  # judged queries needed before a share is held out to choose the blend


@dataclass(frozen=True, kw_only=True)
class CrossTraining:
    """Hyperparameters (the manifest records them): ``epochs``, ``lr``, ``batch`` (groups per
    step), ``negatives`` per positive from the hybrid top ``pool``, ``max_length`` (word
    pieces of query and item read together), ``warmup`` (share of the steps), ``held_out``
    (share of the queries), the ``depths`` and ``weights`` the blend is chosen among."""

    epochs: int = 1
    lr: float = 3e-5
    batch: int = 8
    negatives: int = 3
    pool: int = 30
    max_length: int = 128
    warmup: float = 0.1
    held_out: float = 0.2
    depths: tuple[int, ...] = (10, 20)
    weights: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 1.0)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch", "negatives", "pool", "max_length"):
            value = getattr(self, name)
            if not is_int(value) or not 1 <= value <= 100_000:
                raise InvalidInput(f"{name} must be a positive integer, got {value!r}", field=name)
        for name, top in (("lr", 1.0), ("warmup", 0.99), ("held_out", 0.9)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInput(f"{name} must be a number, got {value!r}", field=name)
            if not 0.0 <= value <= top or (name == "lr" and value == 0):
                raise InvalidInput(f"{name} must be in (0, {top}], got {value!r}", field=name)


@dataclass(frozen=True)
class Groups:
    """Training groups (``(query, [positive text, negative texts...])``) and the held-out
    queries: their ids, texts, hybrid candidates and judgments by docno."""

    train: list[tuple[str, list[str]]]
    held_qids: list[str]
    held_texts: list[str]
    held_lists: list[tuple[np.ndarray, np.ndarray]]
    qrels: dict[str, dict[int, int]]
    queries: int


def groups_of(
    ctx: Any,
    texts: dict[str, str],
    by_docno: dict[str, dict[int, int]],
    config: CrossTraining,
    seed: int,
) -> Groups:
    """The training groups and held-out queries (``ctx``: a ``sleuth.search.Context``)."""
    from sleuth.rank.training import collect

    qids = [q for q in texts if any(g > 0 for g in by_docno.get(q, {}).values())]
    if not qids:
        raise InvalidInput("no judged query has a positive item: nothing to learn")
    rng = np.random.default_rng(seed)
    order = [qids[i] for i in rng.permutation(len(qids))]
    cut = int(len(order) * config.held_out) if len(order) >= MIN_HELD_OUT else 0
    held = set(order[:cut])
    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for _, results, _ in collect(ctx, [texts[q] for q in qids]):
        found.update(zip(qids[len(found) : len(found) + len(results)], results))
    every = {int(d) for q in qids for d in found[q][0][: config.pool]}
    every |= {d for q in qids for d, g in by_docno[q].items() if g > 0}
    stored = ctx.fetch(sorted(every))
    train: list[tuple[str, list[str]]] = []
    for q in order[cut:]:
        positives = sorted(d for d, g in by_docno[q].items() if g > 0 and d in stored)
        hard = [int(d) for d in found[q][0][: config.pool] if int(d) not in set(positives)]
        if not hard:
            continue
        for pos in positives:
            picked = rng.choice(len(hard), min(config.negatives, len(hard)), replace=False)
            docs = [pos, *(hard[i] for i in sorted(picked.tolist()))]
            train.append((texts[q], [item_text(stored[d]) for d in docs]))
    if not train:
        raise InvalidInput(
            "no judged query has both a positive item and a hybrid candidate that is not "
            "positive (a hard negative): nothing to learn"
        )
    held_qids = [q for q in qids if q in held]
    return Groups(
        train,
        held_qids,
        [texts[q] for q in held_qids],
        [found[q] for q in held_qids],
        {q: by_docno[q] for q in held_qids},
        len(qids),
    )


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]


def train_cross(
    base: Path,
    groups: Groups,
    config: CrossTraining,
    checkpoints: Path,
    *,
    seed: int,
    minutes: float,
    progress: bool | None,
) -> tuple[Any, dict[str, Any]]:
    """The fine-tuned ``CrossEncoder`` and the run's record (steps, epochs, losses, stop)."""
    import torch

    deadline = time.monotonic() + minutes * 60
    key = _digest(
        {"config": asdict(config), "seed": seed, "base": str(base), "data": _digest(groups.train)}
    )
    saved = Checkpoints(checkpoints / f"reranker-{key}")
    start_epoch = saved.latest()
    torch.manual_seed(seed)
    from sentence_transformers import CrossEncoder

    offline()
    source = str(saved.epoch_dir(start_epoch)) if start_epoch else str(base)
    model = CrossEncoder(source, num_labels=1, max_length=config.max_length, device="cpu")
    net, tokenizer = model.model, model.tokenizer
    steps_per_epoch = math.ceil(len(groups.train) / config.batch)
    total = steps_per_epoch * config.epochs
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr)
    warm = max(1, int(total * config.warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    history: list[Any] = []
    if start_epoch:
        state, history = saved.state(start_epoch)
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
    stopped = "epochs"
    with progress_bar(
        "training the reranker", total - start_epoch * steps_per_epoch, progress
    ) as advance:
        for epoch in range(start_epoch + 1, config.epochs + 1):
            torch.manual_seed(seed + epoch)
            order = np.random.default_rng([seed, epoch]).permutation(len(groups.train))
            net.train()
            losses = []
            for step in range(steps_per_epoch):
                rows = order[step * config.batch : (step + 1) * config.batch]
                chunk = [groups.train[i] for i in rows]
                encoded = tokenizer(
                    [q for q, docs in chunk for _ in docs],
                    [d for _, docs in chunk for d in docs],
                    padding=True,
                    truncation="longest_first",
                    max_length=config.max_length,
                    return_tensors="pt",
                )
                logits = net(**encoded).logits[:, 0]
                loss = _group_loss(logits, [len(docs) for _, docs in chunk])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                losses.append(float(loss.detach()))
                advance(1)
                if time.monotonic() > deadline:
                    stopped = "budget"
                    break
            history.append(
                {"epoch": epoch, "steps": len(losses), "loss": round(float(np.mean(losses)), 4)}
            )
            if stopped == "budget":
                break
            saved.save_epoch(
                epoch,
                model,
                {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict()},
                history,
            )
    net.eval()
    return model, {
        "history": history,
        "stopped": stopped,
        "checkpoints": saved,
        "steps_per_epoch": steps_per_epoch,
    }


def _group_loss(logits: Any, sizes: list[int]) -> Any:
    """Softmax cross-entropy of each group's first (positive) pair, groups of ``sizes``."""
    import torch

    losses, at = [], 0
    for size in sizes:
        group = logits[at : at + size]
        losses.append(-torch.log_softmax(group, 0)[0])
        at += size
    return torch.stack(losses).mean()


def choose_blend(
    model: CrossModel, groups: Groups, fetch: Any, config: CrossTraining
) -> dict[str, Any]:
    """The depth and weight that rerank the held-out queries' hybrid lists best (nDCG@10);
    the defaults when no query was held out."""
    if not groups.held_qids:
        return {"depth": DEFAULT_DEPTH, "weight": DEFAULT_WEIGHT, "chosen_on": None}
    from ranx import Qrels, Run, evaluate

    deepest = max(config.depths)
    stored = fetch(sorted({int(d) for d, _ in groups.held_lists for d in d[:deepest]}))
    pairs = [
        (t, item_text(stored[int(d)]))
        for t, (docs, _) in zip(groups.held_texts, groups.held_lists)
        for d in docs[:deepest]
    ]
    flat = model.score(pairs)
    sizes = np.cumsum([min(deepest, d.size) for d, _ in groups.held_lists])[:-1]
    cross = np.split(flat, sizes)
    qrels = Qrels({q: {str(d): g for d, g in j.items()} for q, j in groups.qrels.items()})

    def ndcg(depth: int, weight: float) -> float:
        run = {}
        for q, given, c in zip(groups.held_qids, groups.held_lists, cross):
            _, (docs, scores) = rerank_list(given, c[:depth], depth, weight, 10)
            run[q] = {str(d): float(s) for d, s in zip(docs, scores)}
        return round(float(evaluate(qrels, Run(run), "ndcg@10", make_comparable=True)), 4)

    grid = [
        {"depth": d, "weight": w, "ndcg@10": ndcg(d, w)}
        for d in config.depths
        for w in config.weights
    ]
    best = max(grid, key=lambda row: (row["ndcg@10"], -row["depth"]))
    return {
        "depth": best["depth"],
        "weight": best["weight"],
        "chosen_on": {
            "queries": len(groups.held_qids),
            "candidates": ndcg(deepest, 0.0),
            "grid": grid,
        },
    }


def write_reranker(models: Path, model: Any, manifest: dict[str, Any]) -> Path:
    """``models/reranker-<id>/`` written under a temporary name, then renamed."""
    final = models / f"reranker-{manifest['id']}"
    tmp = models / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    models.mkdir(parents=True, exist_ok=True)
    model.save(str(tmp))
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def manifest_of(
    base: Path,
    config: CrossTraining,
    seed: int,
    groups: Groups,
    source: dict[str, Any],
    run: dict[str, Any],
    serve: dict[str, Any],
    seconds: float,
) -> dict[str, Any]:
    made = {
        "format": FORMAT,
        "kind": "cross-encoder",
        "sleuth": __version__,
        "base": str(base),
        "params": asdict(config),
        "seed": seed,
        "trained_from": {
            **source,
            "queries": groups.queries,
            "held_out": len(groups.held_qids),
            "groups": len(groups.train),
        },
        "training": {k: v for k, v in run.items() if k != "checkpoints"},
        "serve": serve,
        "seconds": round(seconds, 1),
    }
    made["id"] = _digest(made)
    return made
