"""Text encoders, chosen by name: ``minilm`` (bundled), ``hashing[:dim]``, or a model folder."""

from __future__ import annotations

import threading
from pathlib import Path

from sleuth.checks import check_int
from sleuth.encoders.base import Encoder
from sleuth.encoders.hashing import MAX_DIM, MIN_DIM, HashingEncoder
from sleuth.encoders.none import NoEncoder
from sleuth.errors import InvalidInput
from sleuth.vectors import MAX_DIM as VECTOR_MAX_DIM

__all__ = ["Encoder", "HashingEncoder", "NoEncoder", "get_encoder"]

KNOWN = (
    "minilm",
    "hashing",
    "hashing:<dim>",
    "none (with dim=N: items and queries bring their vectors)",
    "<path to a sentence-transformers folder>",
)


def get_encoder(spec: str | Encoder, dim: int | None = None) -> Encoder:
    """An encoder from its name. Unknown names list what is known. ``dim``: the dimension of
    ``"none"`` (also spelled ``"none:<dim>"``); with another encoder it must be that encoder's.

    >>> get_encoder("hashing:64").dim
    64
    >>> get_encoder("none", dim=3).id
    'none:3'
    """
    if dim is not None:
        check_int(dim, "dim", 1, VECTOR_MAX_DIM)
    encoder = _named(spec, dim)
    if dim is not None and encoder.dim != dim:
        raise InvalidInput(
            f"dim={dim!r:.20} does not match encoder {encoder.id!r}, whose vectors have "
            f"{encoder.dim} dimensions; omit dim (or give the encoder's)",
            encoder=encoder.id,
            dim=encoder.dim,
        )
    return encoder


def _named(spec: str | Encoder, dim: int | None) -> Encoder:
    if isinstance(spec, Encoder):
        return spec
    if spec == "none" or (isinstance(spec, str) and spec.startswith("none:")):
        _, _, given = spec.partition(":")
        if given:
            if not (given.isascii() and given.isdigit() and len(given) <= 6):
                raise InvalidInput(f"encoder {spec[:40]!r}: the dimension must be an integer")
            return NoEncoder(int(given))
        if dim is None:
            raise InvalidInput(
                'encoder "none" needs the dimension of the vectors the items bring: '
                'sleuth.open(path, encoder="none", dim=384) (CLI: --encoder none --dim 384)',
                encoder=spec,
            )
        return NoEncoder(dim)
    if not isinstance(spec, str) or not spec:
        raise InvalidInput(
            f"encoder must be a name or a model folder, got {spec!r:.80}; known: {', '.join(KNOWN)}"
        )
    if spec == "minilm":
        from sleuth.encoders.sentence import bundled_minilm

        return _model(bundled_minilm())
    if spec == "hashing" or spec.startswith("hashing:"):
        _, _, size = spec.partition(":")
        # ASCII digits only: str.isdigit() also takes e.g. "²", which int() refuses
        if size and not (size.isascii() and size.isdigit() and len(size) <= 6):
            raise InvalidInput(
                f"hashing encoder dimension must be an integer from {MIN_DIM} to {MAX_DIM}, "
                f"got {size!r:.20}",
                encoder=spec[:40],
            )
        return HashingEncoder(dim=int(size) if size else 256)
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
