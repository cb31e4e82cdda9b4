"""``Collection.tune``: check, mine, train, and write ``models/encoder-<id>/`` atomically.

The result is a sentence-transformers folder (any collection can use it: ``encoder=PATH``)
with ``manifest.json``: the base model, the data seen, the settings, the validation signal per
epoch and ``compatible_with`` (the encoder id whose stored vectors the model's queries were
trained to search, or null). It is written under a temporary name and renamed when complete;
checkpoints live in ``models/checkpoints/`` until then, so an interrupted run resumes and a
failed one leaves no model behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from sleuth._version import __version__
from sleuth.encoders import Encoder, get_encoder
from sleuth.encoders.sentence import SentenceEncoder, load_model
from sleuth.errors import Conflict, InvalidInput
from sleuth.progress import stage
from sleuth.tune.checkpoint import Checkpoints
from sleuth.tune.config import MIN_ITEMS, TuneConfig
from sleuth.tune.data import tune_data
from sleuth.tune.train import Prepared, fit
from sleuth.tune.validate import signal

__all__ = ["tune_collection"]

FORMAT = 1
SIGNAL = (
    "MRR@10 of held-out items' pseudo-queries (title, crop) finding their item among hard "
    "distractors, mean of the two kinds (sleuth.tune.validate)"
)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]


def _check(col: Any, base: str | None, config: TuneConfig) -> SentenceEncoder:
    if not isinstance(col.encoder, SentenceEncoder):
        raise InvalidInput(
            f"tune needs a collection whose encoder is a sentence-transformers model (minilm "
            f"or a model folder); this one's is {col.encoder.id!r}",
            encoder=col.encoder.id,
        )
    model: Encoder = col.encoder if base is None else get_encoder(base)
    if not isinstance(model, SentenceEncoder):
        raise InvalidInput(
            f"base must be a sentence-transformers model (minilm or a model folder), got "
            f"{base!r:.80}",
            field="base",
        )
    if config.compatible and model.dim != col.dim:
        raise InvalidInput(
            f"compatible: base {model.id!r} makes {model.dim}-dimensional vectors, the "
            f"collection's are {col.dim}-dimensional; a compatible model must match them",
            field="base",
        )
    return model


def _output(col: Any, final: Path, source: Path, manifest: dict[str, Any]) -> None:
    """Copy the chosen epoch's model to a temporary folder, mark its config with the weights'
    digest (an encoder's id digests its config files, so two tunings never share an id and a
    cache of vectors), write the manifest, and rename."""
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp, ignore=shutil.ignore_patterns("state.pt", "history.json"))
    weights = hashlib.sha256()
    for path in sorted(tmp.glob("*.safetensors")) + sorted(tmp.glob("*.bin")):
        weights.update(path.read_bytes())
    config_path = tmp / "config.json"
    config = json.loads(config_path.read_text())
    config["sleuth_tuned"] = {"id": manifest["id"], "weights_sha256": weights.hexdigest()}
    config_path.write_text(json.dumps(config, indent=2))
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, final)


def tune_collection(
    col: Any,
    config: TuneConfig,
    *,
    base: str | None = None,
    keep_checkpoints: bool = False,
    progress: bool | None = None,
) -> dict[str, Any]:
    """See ``Collection.tune``. Returns the manifest."""
    started = time.monotonic()
    deadline = started + config.minutes * 60
    model_encoder = _check(col, base, config)
    items = [s.item for batch in col.store.iter_items() for s in batch]
    texted = sum(1 for i in items if any(i.fields.get(f) for f in col.config.text_fields))
    if texted < MIN_ITEMS:
        raise InvalidInput(
            f"tune needs at least {MIN_ITEMS} items with text to learn from; this collection "
            f"has {texted}",
            items=texted,
            minimum=MIN_ITEMS,
        )
    key = {
        "config": config.training_key(),
        "base": model_encoder.id,
        "collection": [col.store.get_meta("collection_id"), col.store.last_seq(), col.encoder.id],
    }
    run_id = _digest({**key, "minutes": config.minutes, "patience": config.patience})
    models = col.path / "models"
    final = models / f"encoder-{run_id}"
    if final.exists():
        raise Conflict(
            f"{final.name} already exists: these settings were tuned on this collection "
            "(use it as encoder=PATH, or delete the folder to tune again)",
            model=str(final),
        )
    checkpoints = Checkpoints(models / "checkpoints" / f"tune-{_digest(key)}")
    with stage("mining training pairs", progress):
        data = tune_data(col, items, config, checkpoints, progress)
    if len(data.pairs) < config.batch_size:
        raise InvalidInput(
            f"only {len(data.pairs)} training pairs could be mined from {texted} items, fewer "
            f"than a batch ({config.batch_size}); add items or longer texts, or lower batch_size",
            pairs=len(data.pairs),
        )
    ids = sorted({p.item for p in data.pairs} | set(data.texts))
    old = dict(zip(ids, col.vectors(ids), strict=True))
    latest = checkpoints.latest()
    model = load_model(checkpoints.epoch_dir(latest) if latest else model_encoder.path)
    serve_tokens = int(model.max_seq_length)  # a checkpoint is saved at the serving length
    mined = time.monotonic()
    outcome = fit(
        model,
        Prepared(data.pairs, data.texts, data.guide, old),
        config,
        checkpoints,
        deadline=deadline,
        validate=lambda m: signal(m, data.validation),
        serve_tokens=serve_tokens,
        show=progress,
    )
    best = outcome.best_epoch
    manifest = {
        "format": FORMAT,
        "sleuth_version": __version__,
        "id": final.name,
        "base": {"id": model_encoder.id, "spec": model_encoder.spec},
        "collection_encoder": col.encoder.id,
        "compatible_with": col.encoder.id if config.compatible else None,
        "data": data.seen,
        "config": config.to_dict(),
        "seed": config.seed,
        "epochs_done": max(h["epoch"] for h in outcome.history),
        "best_epoch": best,
        "stopped": outcome.stopped,
        "validation": {"signal": SIGNAL, "per_epoch": outcome.history},
        "improved": next(h["signal"] for h in outcome.history if h["epoch"] == best)
        > outcome.history[0]["signal"],
        "seconds": {
            "mining": round(mined - started, 1),
            "total": round(time.monotonic() - started, 1),
        },
    }
    # a budget-stopped run keeps its checkpoints: a run with a larger budget goes on from them
    manifest["resumable"] = outcome.stopped == "time budget"
    _output(col, final, checkpoints.epoch_dir(best), manifest)
    if not keep_checkpoints and not manifest["resumable"]:
        checkpoints.remove()
    return {**manifest, "path": str(final)}
