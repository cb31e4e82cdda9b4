"""Text encoders, chosen by name: ``minilm`` (bundled), ``hashing[:dim]``, or a model folder."""

from __future__ import annotations

import threading
from pathlib import Path

from sleuth.encoders.base import Encoder
from sleuth.encoders.hashing import MAX_DIM, MIN_DIM, HashingEncoder
from sleuth.errors import InvalidInput

__all__ = ["Encoder", "HashingEncoder", "get_encoder"]

KNOWN = ("minilm", "hashing", "hashing:<dim>", "<path to a sentence-transformers folder>")


def get_encoder(spec: str | Encoder) -> Encoder:
    """An encoder from its name. Unknown names list what is known.

    >>> get_encoder("hashing:64").dim
    64
    """
    if isinstance(spec, Encoder):
        return spec
    if not isinstance(spec, str) or not spec:
        raise InvalidInput(
            f"encoder must be a name or a model folder, got {spec!r:.80}; known: {', '.join(KNOWN)}"
        )
    if spec == "minilm":
        from sleuth.encoders.sentence import bundled_minilm

        return _model(bundled_minilm())
    if spec == "hashing" or spec.startswith("hashing:"):
        _, _, dim = spec.partition(":")
        # ASCII digits only: str.isdigit() also takes e.g. "²", which int() refuses
        if dim and not (dim.isascii() and dim.isdigit() and len(dim) <= 6):
            raise InvalidInput(
                f"hashing encoder dimension must be an integer from {MIN_DIM} to {MAX_DIM}, "
                f"got {dim!r:.20}",
                encoder=spec[:40],
            )
        return HashingEncoder(dim=int(dim) if dim else 256)
    path = Path(spec).expanduser()
    if (path / "modules.json").exists() or (path / "config.json").exists():
        return _model(path)
    raise InvalidInput(f"unknown encoder {spec!r}; known: {', '.join(KNOWN)}", encoder=spec)


_models: dict[Path, Encoder] = {}
_models_lock = threading.Lock()


def _model(path: Path) -> Encoder:
    """One encoder per model folder and process: collections that share a model load it once."""
    from sleuth.encoders.sentence import SentenceEncoder

    with _models_lock:
        key = path.resolve()
        if key not in _models:
            _models[key] = SentenceEncoder(key)
        return _models[key]
