"""``sleuth eval recs``: leave-one-out evaluation of what ``Collection.recommend`` serves.

The harness builds a collection from the events file (the catalog from ``items`` or the
MovieLens movie list; an item the catalog lacks gets a placeholder with its id as text), records
every event but the held-out ones, and asks ``Collection.recommend_batch`` — the code path users
call, with its sources, fusion, seen-item exclusion and filters — for each user's top 10.

Each user's last interaction (by time; ties in file order) is the test item and the one before
it the validation item: weights are chosen on a second collection that also lacks the
validation items, the test figures come from the collection that lacks only the test items.
``split="time"`` instead holds out, for each user active after the global 90th-percentile time
(80th for validation), their first event after it. Every item is ranked (no sampled negatives).

Runs: ``default`` (the weights ``recommend`` uses unless told otherwise; with SASRec, also
``default-untrained``: what it serves before ``sleuth train``), each source alone,
the tuned fusion of co-visit and EASE, and that fusion joined by the other sources a weight
helps on the validation items. Popularity and item-kNN, the usual baselines, are computed from
score matrices in the same call (they are references, not served sources).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sleuth.config import DEFAULT_SOURCE_WEIGHTS, CollectionConfig, RecommendConfig
from sleuth.engine import Collection
from sleuth.errors import InvalidInput
from sleuth.evaluate.ranking import K, list_metrics, ranking_metrics
from sleuth.io.events import read_events
from sleuth.io.movielens import MOVIE_FILES
from sleuth.io.readers import read_items
from sleuth.opening import open_collection
from sleuth.progress import progress_bar
from sleuth.recommend.interactions import Interactions
from sleuth.recommend.sources import ItemKNN, Popularity
from sleuth.types import Event, Item

__all__ = ["DEFAULT_SOURCES", "SOURCES", "SPLITS", "evaluate_recs", "ranking_metrics"]

SPLITS = ("loo", "time")
# Sources by their names here -> the names recommend weighs them by.
SERVED = {
    "co-visit": "co-visit",
    "ease": "ease",
    "multi-interest": "multi-interest",
    "sasrec": "sequential",
    "content": "content",
}
SOURCES = ("popularity", "item-knn", *SERVED)
DEFAULT_SOURCES = ("popularity", "item-knn", "ease", "co-visit", "multi-interest")
FUSED = ("co-visit", "ease")  # the fused pair; the other sources below join it if they help
JOINERS = ("sasrec", "content", "multi-interest")
FUSION_WEIGHTS = (0.5, 0.6, 0.7, 0.8, 0.9)
JOIN_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.8)
# SASRec as the harness trains it (best of dim 64/128, dropout 0.2/0.5 on ML-100K validation;
# early stopping on each user's last recorded item): ~4 minutes on ML-100K.
SASREC = {"dim": 128, "max_len": 50, "dropout": 0.5, "patience": 20}


@dataclass(frozen=True)
class _Split:
    """Events to record (a mask over the file's events), and who is asked for what."""

    record: np.ndarray  # bool[events]
    users: list[str]
    targets: np.ndarray  # item codes of ``Interactions`` numbering, [users]


def evaluate_recs(
    path: str | Path,
    *,
    format: str = "auto",
    columns: Mapping[str, str] | str | None = None,
    split: str = "loo",
    sources: Sequence[str] = DEFAULT_SOURCES,
    items: str | Path | None = None,
    encoder: str = "minilm",
    progress: bool | None = None,
) -> dict[str, Any]:
    """Evaluate ``sources`` (any of ``SOURCES``; popularity and item-kNN always run), their
    fusion and the served default on the events at ``path``. Item texts (for the content
    source): ``items`` (a MovieLens folder or any items file; the events' MovieLens folder by
    default), encoded with ``encoder``. ``columns``: the events' column mapping (see
    ``read_events``)."""
    if split not in SPLITS:
        raise InvalidInput(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise InvalidInput(
            f"unknown source {unknown[0]!r}; allowed: {', '.join(SOURCES)}", sources=unknown
        )
    events = read_events(path, format=format, columns=columns)
    data = Interactions.from_events(events)
    val, test = _splits(data, split)
    if not val.users or not test.users:
        raise InvalidInput(f"{path}: too few events per user to hold any out")
    catalog, texts = _catalog(path, items, data.item_ids, needed="content" in sources)
    wanted = [s for s in SERVED if s in sources]
    runs: dict[str, Any] = {}
    test_train = data.subset(test.record[data.order])
    test_targets = test.targets
    for name, make in (("popularity", Popularity), ("item-knn", ItemKNN)):
        t = time.perf_counter()
        source = make().fit(test_train)
        codes = np.array([data.user_index[u] for u in test.users])
        scores = source.score([test_train.history(u) for u in codes])
        scores[test_train.matrix()[codes].nonzero()] = -np.inf
        runs[name] = ranking_metrics(scores, test_train, codes, test_targets)
        runs[name]["train_s"] = round(time.perf_counter() - t, 3)
        runs[name]["params"] = {}
    with tempfile.TemporaryDirectory(prefix="sleuth-eval-recs-") as tmp:
        steps = 2 + len(wanted) + len(FUSION_WEIGHTS) + len(JOIN_WEIGHTS) * len(JOINERS)
        with progress_bar("evaluating", steps, progress) as advance:
            t = time.perf_counter()
            folders = _collections(Path(tmp), catalog, encoder if texts else "hashing", wanted)
            build_s = time.perf_counter() - t
            served = {
                "val": _Served(folders["val"], events, val, data),
                "test": _Served(folders["test"], events, test, data),
            }
            try:
                if "sasrec" in wanted:
                    # Training holds out each user's last recorded item (it only stops the
                    # training early): the test collection's model is trained on exactly the
                    # validation collection's events, so one training serves both.
                    served["test"].train_sequential(progress)
                    served["val"].adopt_sequential(served["test"])
                advance(1)
                for name in wanted:
                    weights = {SERVED[name]: 1.0}
                    runs[name] = served["test"].run(weights)
                    runs[name]["train_s"] = served["test"].train_s(name, build_s)
                    advance(1)
                default = {n: w for n, w in DEFAULT_SOURCE_WEIGHTS.items() if w > 0}
                if not texts:
                    default.pop("content", None)
                if "sasrec" not in wanted:
                    default.pop("sequential", None)
                runs["default"] = served["test"].run(default)
                runs["default"]["train_s"] = served["test"].train_s("default", build_s)
                if "sequential" in default:  # what recommend serves before `sleuth train`
                    untrained = {n: w for n, w in default.items() if n != "sequential"}
                    runs["default-untrained"] = served["test"].run(untrained)
                    runs["default-untrained"]["train_s"] = round(served["test"].fit_s + build_s, 3)
                advance(1)
                if all(n in wanted for n in FUSED):
                    tuned = _tune_weights(served["val"], wanted, advance)
                    joined = {n: w for n, w in tuned.items() if w > 0}
                    for fused in ({n: tuned[n] for n in FUSED}, joined):
                        label = f"fused({'+'.join(fused)})"
                        runs[label] = served["test"].run({SERVED[n]: w for n, w in fused.items()})
                        runs[label]["train_s"] = round(sum(runs[n]["train_s"] for n in fused), 3)
                        runs[label]["params"] = {"weight": fused}
            finally:
                for one in served.values():
                    one.close()
    return {
        "dataset": Path(path).name if Path(path).is_dir() else Path(path).parent.name,
        "users": data.n_users,
        "items": data.n_items,
        "events": len(data),
        "split": split,
        "evaluated_users": len(test.users),
        "runs": runs,
    }


class _Served:
    """One evaluation collection: the catalog plus the events of a split, asked through
    ``recommend_batch`` for every held-out user."""

    def __init__(self, folder: Path, events: list[Event], split: _Split, data: Interactions):
        self.col: Collection = open_collection(folder)
        self.split, self.data = split, data
        self.recorded = data.subset(split.record[data.order])  # as arrays, for the metrics
        t = time.perf_counter()
        self.col.record([e for e, keep in zip(events, split.record.tolist()) if keep])
        self.col.recommend(split.users[0], k=1)  # fits the learned sources
        self.fit_s = time.perf_counter() - t
        self.sequential_s = 0.0

    def train_sequential(self, progress: bool | None) -> None:
        t = time.perf_counter()
        self.col.train(progress=progress, **SASREC)
        self.sequential_s = time.perf_counter() - t

    def adopt_sequential(self, other: _Served) -> None:
        shutil.copytree(other.col.path / "models", self.col.path / "models", dirs_exist_ok=True)
        self.sequential_s = other.sequential_s

    def train_s(self, name: str, build_s: float) -> float:
        extra = {"sasrec": self.sequential_s, "content": build_s}.get(name, 0.0)
        if name == "default":
            extra = self.sequential_s + build_s
        return round(self.fit_s + extra, 3)

    def run(self, weights: dict[str, float]) -> dict[str, Any]:
        hits = self.col.recommend_batch(self.split.users, K, sources=weights)
        index = self.data.item_index
        top = np.full((len(hits), K), -1, np.int64)
        for row, found in enumerate(hits):
            codes = [index.get(h.id, -1) for h in found]
            top[row, : len(codes)] = codes
        out = list_metrics(top, self.recorded, self.split.targets)
        out["params"] = {"weight": weights}
        return out

    def close(self) -> None:
        self.col.close()


def _tune_weights(val: _Served, wanted: list[str], advance: Any) -> dict[str, float]:
    """The fused pair's weight on the validation items, then each other source's weight added
    greedily (kept at 0 when it does not help)."""
    a, b = FUSED
    ndcg = []
    for w in FUSION_WEIGHTS:
        ndcg.append(val.run({SERVED[a]: w, SERVED[b]: round(1 - w, 2)})["ndcg@10"])
        advance(1)
    w = FUSION_WEIGHTS[int(np.argmax(ndcg))]
    weights = {a: w, b: round(1 - w, 2)}
    for name in JOINERS:
        if name not in wanted:
            continue
        scores = []
        for join in JOIN_WEIGHTS:
            trial = {**weights, name: join}
            scores.append(val.run({SERVED[n]: x for n, x in trial.items()})["ndcg@10"])
            advance(1)
        weights[name] = JOIN_WEIGHTS[int(np.argmax(scores))]
    return weights


def _collections(
    tmp: Path, catalog: list[Item], encoder: str, wanted: Sequence[str]
) -> dict[str, Path]:
    """Two collections holding the catalog (encoded once, then copied): validation and test.
    Every source a run may weigh is fitted (its configured weight > 0)."""
    sources = dict(DEFAULT_SOURCE_WEIGHTS)
    sources.update({SERVED[name]: max(sources[SERVED[name]], 0.1) for name in wanted})
    config = CollectionConfig(recommend=RecommendConfig(sources=sources))
    with open_collection(tmp / "catalog", encoder=encoder, config=config) as col:
        for start in range(0, len(catalog), 5000):
            col.add(catalog[start : start + 5000], progress=False)
    out = {}
    for name in ("val", "test"):
        shutil.copytree(tmp / "catalog", tmp / name)
        out[name] = tmp / name
    return out


def _catalog(
    path: str | Path, items: str | Path | None, item_ids: list[str], *, needed: bool
) -> tuple[list[Item], bool]:
    """The items to recommend (a placeholder, its id as text, for every event item the catalog
    lacks) and whether real item texts were found."""
    if items is None:
        folder = Path(path) if Path(path).is_dir() else Path(path).parent
        if any((folder / name).is_file() for name in MOVIE_FILES):
            items = folder
    found: dict[str, Item] = {}
    if items is not None:
        found = {item.id: item for item in read_items(items)}
        if not any(i in found for i in item_ids):
            raise InvalidInput(
                f"{items}: none of its item ids occur in the events", path=str(items)
            )
    elif needed:
        raise InvalidInput(
            "the content source needs item texts: pass items= (a MovieLens folder, "
            "or a JSONL / CSV / JSON file of items with id and text fields)"
        )
    catalog = [found.get(i) or Item(id=i, fields={"text": i}) for i in item_ids]
    return catalog, bool(found)


def _splits(data: Interactions, split: str) -> tuple[_Split, _Split]:
    """(validation, test): what each collection records and which item each user is asked for."""
    if split == "loo":
        return _leave_last_out(data, 2), _leave_last_out(data, 1)
    return _time_split(data, 0.8), _time_split(data, 0.9)


def _leave_last_out(data: Interactions, n: int) -> _Split:
    """Each user's last ``n`` events held out (users with more than ``n``); the first of them
    is the target."""
    lengths = np.diff(data.starts)
    users = np.flatnonzero(lengths > n)
    keep = np.ones(len(data), bool)
    for j in range(n):
        keep[data.starts[users + 1] - n + j] = False
    targets = data.items[data.starts[users + 1] - n]
    return _Split(_unsorted(data, keep), [data.user_ids[u] for u in users], targets)


def _time_split(data: Interactions, quantile: float) -> _Split:
    cut = float(np.quantile(data.ts, quantile))
    before = data.ts <= cut
    after = ~before
    users, first = np.unique(data.users[after], return_index=True)
    targets = data.items[after][first]
    history = np.bincount(data.users[before], minlength=data.n_users)[users] > 0
    return _Split(
        _unsorted(data, before),
        [data.user_ids[u] for u in users[history]],
        targets[history],
    )


def _unsorted(data: Interactions, sorted_mask: np.ndarray) -> np.ndarray:
    """A mask over ``data``'s sorted events as a mask over the file's events."""
    out = np.zeros(sorted_mask.size, bool)
    out[data.order] = sorted_mask
    return out
