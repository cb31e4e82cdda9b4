"""Text encoders, chosen by name: ``minilm`` (bundled), ``hashing[:dim]``, or a model folder."""

from __future__ import annotations

import threading
from pathlib import Path

from sleuth.encoders.base import Encoder
from sleuth.encoders.hashing import HashingEncoder
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
    if spec == "minilm":
        from sleuth.encoders.sentence import bundled_minilm

        return _model(bundled_minilm())
    if spec == "hashing" or spec.startswith("hashing:"):
        _, _, dim = spec.partition(":")
        if dim and not dim.isdigit():
            raise InvalidInput(f"hashing encoder dimension must be a number, got {dim!r}")
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
