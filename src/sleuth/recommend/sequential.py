"""SASRec (Kang & McAuley, 2018): a causal transformer over each user's items in time order,
trained to predict every next item, scored by the final position against all item embeddings.

The sequence is read at request time: ``score()`` takes the histories it is given, so a new
event changes the next recommendation at once, without retraining.

Training holds out each user's last item and stops early on its NDCG@10 (full ranking, the
user's other items excluded), keeping the best weights. It is deterministic under ``seed`` on
CPU with the same torch version and thread count. ``fit(data, checkpoint=path)`` writes a
checkpoint after every epoch (atomically) and resumes from it, bit for bit, after an
interruption; ``fit(data, warm_start=model)`` starts from another model's weights.

Items are the integer codes of ``Interactions``. A warm start assumes those codes are stable:
codes ``0..n-1`` of the previous model mean the same items, and new items append at the end
(their embedding rows start fresh).

>>> model = SASRec(epochs=50).fit(data)  # doctest: +SKIP
>>> scores = model.score([data.history(0)])  # float32[1, n_items]  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sleuth.errors import Conflict, InvalidInput
from sleuth.progress import progress_bar
from sleuth.recommend.interactions import History, Interactions
from sleuth.recommend.sasrec_net import Net, batches, pad, windows
from sleuth.recommend.source import Source

__all__ = ["SASRec"]

FORMAT = 1
LOSSES = ("full", "sampled")
# What a checkpoint must share with the model resuming from it (``epochs``, ``patience`` and
# ``eval_every`` only say how long to train, so a resumed run may change them).
ARCHITECTURE = ("dim", "blocks", "heads", "max_len")
RESUME_KEYS = (*ARCHITECTURE, "dropout", "lr", "weight_decay", "batch", "loss", "negatives", "seed")
SCORE_BATCH = 256
K = 10


class SASRec(Source):
    """Settings (keyword-only): ``dim``, ``blocks``, ``heads``, ``max_len`` (items read per
    history), ``dropout``, Adam's ``lr`` and ``weight_decay``, ``batch`` (windows per step),
    ``epochs`` (a cap), ``patience``, ``eval_every``, ``loss``, ``negatives``, ``seed``.

    ``loss="full"``: softmax cross-entropy over all items (fine up to ~50k items on CPU);
    ``"sampled"``: against ``negatives`` uniform items shared by the batch. ``patience``
    counts evaluations (every ``eval_every`` epochs) without a better validation NDCG@10.
    The defaults suit CPU; on MovieLens-100K ``dim=128, dropout=0.5, patience=20`` did better
    (test NDCG@10 ~0.10 against ~0.08, in ~4 min on 2 cores)."""

    name = "sasrec"

    def __init__(
        self,
        *,
        dim: int = 64,
        blocks: int = 2,
        heads: int = 1,
        max_len: int = 50,
        dropout: float = 0.2,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        batch: int = 128,
        epochs: int = 200,
        patience: int = 10,
        eval_every: int = 1,
        loss: str = "full",
        negatives: int = 256,
        seed: int = 0,
        progress: bool | None = None,
    ) -> None:
        if loss not in LOSSES:
            raise InvalidInput(f"unknown loss {loss!r}; allowed: {', '.join(LOSSES)}", loss=loss)
        for key, value, low in (
            ("dim", dim, 1),
            ("blocks", blocks, 1),
            ("heads", heads, 1),
            ("max_len", max_len, 2),
            ("batch", batch, 1),
            ("epochs", epochs, 0),
            ("patience", patience, 1),
            ("eval_every", eval_every, 1),
            ("negatives", negatives, 1),
            ("seed", seed, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidInput(
                    f"{key} must be an integer of at least {low}, got {value!r}", **{key: value}
                )
        if dim % heads:
            raise InvalidInput(f"dim {dim} is not a multiple of heads {heads}", dim=dim)
        for key, number, lo, hi in (
            ("dropout", dropout, 0.0, 1.0),
            ("lr", lr, 0.0, 1.0),
            ("weight_decay", weight_decay, 0.0, 1.0),
        ):
            ok = isinstance(number, int | float) and not isinstance(number, bool)
            if not ok or not lo <= number < hi or (key == "lr" and number == 0):
                raise InvalidInput(
                    f"{key} must be a number in {'(' if key == 'lr' else '['}{lo:g}, {hi:g}), "
                    f"got {number!r}",
                    **{key: number},
                )
        self.dim, self.blocks, self.heads, self.max_len = dim, blocks, heads, max_len
        self.dropout, self.lr, self.weight_decay, self.batch = dropout, lr, weight_decay, batch
        self.epochs, self.patience, self.eval_every = epochs, patience, eval_every
        self.loss, self.negatives, self.seed = loss, negatives, seed
        self.progress = progress
        self.epoch = 0  # epochs trained
        self.best_epoch = 0
        self.best_ndcg = float("nan")  # validation NDCG@10 of the kept weights
        self._net: Net | None = None
        self._train_state: dict[str, Any] | None = None

    def config(self) -> dict[str, Any]:
        keys = (*RESUME_KEYS, "epochs", "patience", "eval_every")
        return {k: getattr(self, k) for k in keys}

    # -- training -------------------------------------------------------------------------

    def fit(
        self,
        data: Interactions,
        *,
        checkpoint: str | Path | None = None,
        warm_start: SASRec | None = None,
    ) -> SASRec:
        """Train on ``data`` (its users' last items validate). With ``checkpoint``, resume from
        it when it exists (same settings and data, else ``Conflict``) and write it after every
        epoch; ``warm_start`` is used only when there is no checkpoint to resume."""
        train, val_users, val_held = data.leave_last_out(1)
        cut = windows(train, self.max_len)
        if not cut:
            raise InvalidInput("SASRec needs users with at least 3 events to train and validate")
        fingerprint = _fingerprint(data)
        path = Path(checkpoint) if checkpoint is not None else None
        with _seeded(self.seed):
            self._learn_items(data)
            net = Net(data.n_items, self.dim, self.blocks, self.heads, self.max_len, self.dropout)
            if warm_start is not None:
                _warm(net, self, warm_start)
            optimizer = torch.optim.Adam(
                net.parameters(), lr=self.lr, weight_decay=self.weight_decay
            )
            shuffle = torch.Generator().manual_seed(self.seed)
            self._net = net
            self.epoch, self.best_epoch, self.best_ndcg = 0, 0, float("nan")
            best, bad, stopped = _copy(net.state_dict()), 0, False
            if path is not None and path.exists():
                best, bad, stopped = self._resume(
                    _read(path), fingerprint, path, net, optimizer, shuffle
                )
            todo = 0 if stopped else max(0, self.epochs - self.epoch)
            with progress_bar("training sasrec", todo, self.progress) as advance:
                for _ in range(todo):
                    net.train()
                    self._epoch(net, optimizer, cut, shuffle)
                    self.epoch += 1
                    if self.epoch % self.eval_every == 0:
                        net.eval()
                        ndcg = _ndcg(self, train, val_users, val_held[:, 0])
                        # a tie keeps the later (longer trained) weights but is no progress
                        bad = 0 if ndcg > self.best_ndcg or self.best_epoch == 0 else bad + 1
                        if not ndcg < self.best_ndcg:  # also the first evaluation (nan)
                            self.best_ndcg, self.best_epoch = ndcg, self.epoch
                            best = _copy(net.state_dict())
                        stopped = bad >= self.patience
                    self._train_state = {
                        "model": _copy(net.state_dict()),
                        "optimizer": optimizer.state_dict(),
                        "rng": torch.get_rng_state(),
                        "shuffle": shuffle.get_state(),
                        "bad": bad,
                        "stopped": stopped,
                        "fingerprint": fingerprint,
                    }
                    if path is not None:
                        self._write(path, best)
                    advance(1)
                    if stopped:
                        break
        if self.best_epoch == 0 and self.epoch > 0:
            best = _copy(net.state_dict())  # no evaluation ran (eval_every > epochs)
        net.load_state_dict(best)
        net.eval()
        return self

    def _resume(
        self,
        state: dict[str, Any],
        fingerprint: str,
        path: Path,
        net: Net,
        optimizer: torch.optim.Optimizer,
        shuffle: torch.Generator,
    ) -> tuple[dict[str, torch.Tensor], int, bool]:
        """Load a checkpoint's training state into this run: (best weights, bad evaluations,
        stopped early)."""
        train = state["train"]
        if train is None:
            raise Conflict(f"{path} holds no training state to resume", path=str(path))
        differ = {
            k: [state["config"].get(k), getattr(self, k)]
            for k in RESUME_KEYS
            if state["config"].get(k) != getattr(self, k)
        }
        if differ:
            raise Conflict(
                f"{path} was trained with other settings ({differ}); delete it or use them",
                path=str(path),
                differ=differ,
            )
        if train["fingerprint"] != fingerprint:
            raise Conflict(f"{path} was trained on other interactions", path=str(path))
        net.load_state_dict(train["model"])
        optimizer.load_state_dict(train["optimizer"])
        torch.set_rng_state(train["rng"])
        shuffle.set_state(train["shuffle"])
        self.epoch, self.best_epoch = state["epoch"], state["best_epoch"]
        self.best_ndcg, self._train_state = state["best_ndcg"], train
        return state["model"], train["bad"], train["stopped"]

    def _epoch(
        self,
        net: Net,
        optimizer: torch.optim.Optimizer,
        windows: list[np.ndarray],
        shuffle: torch.Generator,
    ) -> None:
        lengths = torch.tensor([w.size for w in windows])
        for batch in batches(lengths, self.batch, shuffle):
            tokens = pad([windows[i] for i in batch.tolist()], left=False)
            inputs, targets = tokens[:, :-1], tokens[:, 1:]
            states = net(inputs)[targets > 0]  # [positions, dim]
            labels = targets[targets > 0] - 1
            if self.loss == "full":
                loss = F.cross_entropy(net.logits(states), labels)
            else:
                neg = torch.randint(0, self.n_items, (self.negatives,), generator=shuffle)
                table = net.items.weight[1:]
                pos = (states * table[labels]).sum(-1, keepdim=True)
                other = (states @ table[neg].T).masked_fill(neg[None] == labels[:, None], -1e9)
                logits = torch.cat([pos, other], 1)
                loss = F.cross_entropy(logits, torch.zeros_like(labels))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    # -- scoring --------------------------------------------------------------------------

    def score(self, histories: Sequence[History]) -> np.ndarray:
        """float32[len(histories), n_items]: the next-item logits after each history's last
        ``max_len`` items (``user_vectors @ item_embeddings.T``)."""
        return self.user_vectors(histories) @ self.item_embeddings.T

    def user_vectors(self, histories: Sequence[History]) -> np.ndarray:
        """float32[len(histories), dim]: the state after each history's last ``max_len`` items,
        the query a dense index searches the item embeddings with."""
        if self._net is None:
            raise InvalidInput("SASRec.user_vectors() before fit() or load()")
        out = np.empty((len(histories), self.dim), np.float32)
        self._net.eval()
        with torch.inference_mode():
            for start in range(0, len(histories), SCORE_BATCH):
                chunk = histories[start : start + SCORE_BATCH]
                seqs = [np.asarray(h.items[-self.max_len :], np.int64) for h in chunk]
                for s in seqs:
                    if s.size and (s.min() < 0 or s.max() >= self.n_items):
                        raise InvalidInput(
                            f"history item codes must be in [0, {self.n_items}); got {s.min()}"
                            f"..{s.max()} (items added after training need a refit or warm start)"
                        )
                states = self._net(pad([s + 1 for s in seqs], left=True))[:, -1]
                out[start : start + len(chunk)] = states.numpy()
        return out

    @property
    def item_embeddings(self) -> np.ndarray:
        """float32[n_items, dim]: the table that both reads the history and scores."""
        if self._net is None:
            raise InvalidInput("SASRec has no item embeddings before fit() or load()")
        return self._net.items.weight[1:].detach().numpy().copy()

    def reset_items(self, codes: np.ndarray) -> None:
        """Re-initialise the embeddings of these item codes (rows whose id was evicted)."""
        if self._net is None or len(codes) == 0:
            return
        with torch.no_grad():
            rows = torch.as_tensor(np.asarray(codes, np.int64) + 1)
            self._net.items.weight[rows] = torch.randn(len(rows), self.dim) * 0.02

    # -- persistence ----------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """One file, written atomically (temp file + ``os.replace``): the kept weights,
        settings, item count, epochs, best metric and the training state (last weights,
        optimizer, random generators). Only tensors and plain values, read back with
        ``torch.load(weights_only=True)``, so loading a file runs no code from it."""
        if self._net is None:
            raise InvalidInput("SASRec.save() before fit()")
        self._write(Path(path), _copy(self._net.state_dict()))

    @classmethod
    def load(cls, path: str | Path) -> SASRec:
        state = _read(Path(path))
        model = cls(**state["config"])
        model.n_items = state["n_items"]
        model.epoch, model.best_epoch = state["epoch"], state["best_epoch"]
        model.best_ndcg = state["best_ndcg"]
        net = Net(model.n_items, model.dim, model.blocks, model.heads, model.max_len, model.dropout)
        net.load_state_dict(state["model"])
        net.eval()
        model._net, model._train_state = net, state["train"]
        return model

    def _write(self, path: Path, best: dict[str, torch.Tensor]) -> None:
        state = {
            "format": FORMAT,
            "config": self.config(),
            "n_items": self.n_items,
            "epoch": self.epoch,
            "best_epoch": self.best_epoch,
            "best_ndcg": self.best_ndcg,
            "model": best,
            "train": self._train_state,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _ndcg(model: SASRec, train: Interactions, users: np.ndarray, targets: np.ndarray) -> float:
    """NDCG@10 of ranking all items, each user's training items excluded."""
    total = 0.0
    for start in range(0, users.size, 2048):
        chunk = users[start : start + 2048]
        histories = [train.history(u) for u in chunk]
        scores = model.score(histories)
        for r, h in enumerate(histories):
            scores[r, h.items] = -np.inf
        target = scores[np.arange(chunk.size), targets[start : start + chunk.size]]
        rank = (scores > target[:, None]).sum(1)
        total += float(np.where(rank < K, 1 / np.log2(rank + 2), 0.0).sum())
    return total / users.size


def _warm(net: Net, model: SASRec, previous: SASRec) -> None:
    """Copy ``previous``'s weights into ``net``; item rows past its catalog keep their init."""
    if previous._net is None:
        raise InvalidInput("warm_start needs a fitted SASRec")
    differ = {k: (getattr(previous, k), getattr(model, k)) for k in ARCHITECTURE}
    differ = {k: v for k, v in differ.items() if v[0] != v[1]}
    if differ:
        raise InvalidInput(
            f"warm start from another architecture: {differ}",
            differ={k: list(v) for k, v in differ.items()},
        )
    if previous.n_items > model.n_items:
        raise InvalidInput(
            f"warm start from {previous.n_items} items onto {model.n_items}: item codes must "
            "be stable, new items appended at the end",
            previous=previous.n_items,
            items=model.n_items,
        )
    new = net.state_dict()
    with torch.no_grad():
        for key, value in previous._net.state_dict().items():
            new[key][: value.shape[0]].copy_(value)  # the whole tensor but for the item table
    net.load_state_dict(new)


def _copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in state.items()}


def _read(path: Path) -> dict[str, Any]:
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("format") != FORMAT:
        raise InvalidInput(f"{path}: not a SASRec file of format {FORMAT}", path=str(path))
    return state


def _fingerprint(data: Interactions) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in (data.users, data.items, np.asarray([data.n_items])):
        h.update(np.ascontiguousarray(a, np.int64).tobytes())
    return h.hexdigest()


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch's global generator (init, dropout) without leaking it to the caller, and turn
    on deterministic algorithms for the duration."""
    was, warn = (
        torch.are_deterministic_algorithms_enabled(),
        (torch.is_deterministic_algorithms_warn_only_enabled()),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was, warn_only=warn)
