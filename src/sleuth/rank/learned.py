"""The learned ranker: a LightGBM LambdaMART model over ``sleuth.rank.features``, saved in the
collection folder, and the ``Ranker`` stage of mode ``ranked`` that scores with it.

On disk: ``<collection>/ranker/model.npz``, one file written atomically (temp file, fsync,
rename: a reader sees the old model or the new one, never half of one), as the index files
are: its manifest (format, kind, versions, the feature list and spec, the candidate depth, the
collection's id and change-log sequence number at training, what it was trained from, the
model's sha256) and the model in LightGBM's own text format (no pickle). A file whose model or
feature list does not check out is reported when searched, not served.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sleuth._version import __version__
from sleuth.errors import InvalidInput
from sleuth.indexes.base import write_npz
from sleuth.rank.base import Ranker, Ranking, Sources
from sleuth.rank.features import FeatureSpec, Featurizer, FieldCache
from sleuth.timing import ms_since as _ms

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sleuth.retrieve.base import QueryBatch, Ranked

__all__ = ["FORMAT", "KINDS", "LearnedRanker", "RankerState", "TrainedRanker", "load_ranker"]

FORMAT = 1
KINDS = ("lambdamart",)  # the model kinds this version reads
FOLDER, FILE = "ranker", "model.npz"


@dataclass
class TrainedRanker:
    """A trained model with what it reads (``spec``), how many fused candidates it reorders
    (``depth``) and its manifest entries (``info``: versions, sequence number, training)."""

    booster: Any  # lightgbm.Booster
    spec: FeatureSpec
    depth: int
    info: dict[str, Any]
    cache: FieldCache = field(default_factory=FieldCache)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``float32[n]``: the model's score of each row of ``x: float32[n, features]``."""
        if not x.shape[0]:
            return np.zeros(0, np.float32)
        return np.asarray(self.booster.predict(x, num_threads=1), np.float32)

    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "kind": "lambdamart",
            "sleuth": __version__,
            "features": self.spec.names(),
            "spec": self.spec.to_dict(),
            "depth": self.depth,
            **self.info,
        }

    def save(self, collection: Path) -> Path:
        """Write the model as ``collection/ranker/model.npz`` (see the module doc)."""
        folder = collection / FOLDER
        folder.mkdir(exist_ok=True)
        text = self.booster.model_to_string().encode()
        self.info["sha256"] = hashlib.sha256(text).hexdigest()
        write_npz(folder / FILE, self.manifest(), {"model": np.frombuffer(text, np.uint8)})
        return folder / FILE


@dataclass(frozen=True)
class RankerState:
    """The collection's ranker as loaded: ``model`` (None: there is none, or ``problem`` says
    why the saved one cannot serve)."""

    model: TrainedRanker | None = None
    problem: str | None = None

    def usable(self) -> TrainedRanker:
        if self.model is None:
            raise InvalidInput(
                self.problem
                or 'mode "ranked" needs a trained ranker and this collection has none: train one '
                "with `sleuth train ranker COLLECTION --qrels FILE --queries FILE`, "
                "Collection.train_ranker(...) or POST /collections/{name}/ranker"
            )
        return self.model


def load_ranker(collection: Path, collection_id: str | None, encoder: str) -> RankerState:
    """The ranker saved in ``collection`` (an empty state when there is none; one that
    cannot serve, a ``problem``: another collection's, another encoder's, damaged)."""
    path = collection / FOLDER / FILE
    if not path.exists():
        return RankerState()
    import lightgbm as lgb  # only collections with a ranker pay for the import

    where = f"the ranker {path}"
    try:
        with np.load(path, allow_pickle=False) as data:
            manifest = json.loads(data["__manifest__"].tobytes())
            raw = data["model"].tobytes()
        kind = manifest.get("kind")
        if kind not in KINDS or manifest.get("format") != FORMAT:
            return RankerState(
                problem=f"{where} is of unknown kind {kind!r} (format "
                f"{manifest.get('format')!r}); this version reads "
                f"{', '.join(KINDS)} format {FORMAT}: train it again"
            )
        if manifest.get("collection_id") != collection_id:
            return RankerState(
                problem=f"{where} was trained for another collection (id "
                f"{manifest.get('collection_id')!r}, this one is "
                f"{collection_id!r}): train one for this collection"
            )
        fitted = manifest.get("encoder", encoder)  # not recorded before migrations existed
        if fitted != encoder:
            return RankerState(
                problem=f"{where} was trained on the scores of encoder {fitted!r} and the "
                f"collection now searches with {encoder!r} (a migration switched it): train "
                "it again"
            )
        text = raw.decode()
        if hashlib.sha256(raw).hexdigest() != manifest["sha256"]:
            return RankerState(problem=f"{where}: the model file does not match its manifest")
        spec = FeatureSpec.from_dict(manifest["spec"])
        if spec.names() != manifest["features"]:
            return RankerState(problem=f"{where}: its feature list does not match its spec")
        booster = lgb.Booster(model_str=text)
        if booster.num_feature() != len(manifest["features"]):
            return RankerState(
                problem=f"{where}: the model reads {booster.num_feature()} "
                f"features, the manifest lists {len(manifest['features'])}"
            )
    except Exception as exc:  # a damaged zip raises many types; LightGBMError too
        return RankerState(problem=f"{where} cannot be read ({exc}): train it again")
    info = {
        key: value
        for key, value in manifest.items()
        if key not in ("format", "kind", "sleuth", "features", "spec", "depth")
    }
    return RankerState(TrainedRanker(booster, spec, int(manifest["depth"]), info))


class LearnedRanker(Ranker):
    """Mode ``ranked``: the fused top ``depth`` reordered by the trained model's score. Its list
    in ``explain`` is the model's score; the hit's ``features`` are the values it read."""

    name = "learned"

    def __init__(self, model: TrainedRanker, featurizer: Featurizer) -> None:
        self.model, self.featurizer = model, featurizer

    @classmethod
    def build(cls, sources: Sources) -> LearnedRanker:
        model = sources.ranker.usable()
        featurizer = Featurizer(
            sources.index("bm25"),
            sources.index("dense"),
            sources.fetch,
            model.cache,
            sources.late,
            sources.index("tokens"),
        )
        return cls(model, featurizer)

    def depth(self, k: int) -> int:
        return max(k, self.model.depth)

    def rank(
        self,
        queries: QueryBatch,
        candidates: list[Ranked],
        k: int,
        lists: Mapping[str, Sequence[Ranked]] | None = None,
    ) -> Ranking:
        start = time.perf_counter()
        stages = {**(lists or {}), "hybrid": candidates}  # the fused list, by its name
        matrices = self.featurizer.matrix(self.model.spec, queries, candidates, stages)
        timings = {"features_ms": _ms(start)}
        start = time.perf_counter()
        sizes = [m.shape[0] for m in matrices]
        flat = self.model.predict(np.concatenate(matrices)) if sum(sizes) else np.zeros(0)
        scores, ordered, features = [], [], []
        for (docnos, _), x, predicted in zip(
            candidates, matrices, np.split(flat, np.cumsum(sizes)[:-1])
        ):
            order = np.lexsort((docnos, -predicted))  # equal scores by docno: deterministic
            scored = (docnos[order], predicted[order].astype(np.float32))
            scores.append(scored)
            ordered.append((scored[0][:k], scored[1][:k]))
            features.append((docnos, x))
        timings["model_ms"] = _ms(start)
        return Ranking(
            ordered,
            scores,
            [""] * len(candidates),
            timings,
            features=(tuple(self.model.spec.names()), features),
        )
