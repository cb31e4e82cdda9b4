"""Which encoders a client may name for a new collection: the built-in ones, or a model folder
inside the models directory the operator allowed (``sleuth serve --models DIR``). Nothing a
client sends makes the server look at a path outside that directory."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sleuth.errors import InvalidInput

__all__ = ["BUILT_IN_PATTERN", "MODEL_PATTERN", "EncoderAllowList"]

# 16 to 65536 dimensions (HashingEncoder takes 8 and up; 16 is the least token dimension that
# MUVERA's default d_proj fits, so every configuration the schema allows can be built),
# written without leading zeros so that a name matches the pattern exactly when the server
# accepts it (the OpenAPI document shows it).
_DIM = (
    r"(?:1[6-9]|[2-9][0-9]|[1-9][0-9]{2,3}|[1-5][0-9]{4}"
    r"|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-6])"
)
BUILT_IN_PATTERN = rf"^(?:minilm|hashing(?::{_DIM})?|none(?::[1-9][0-9]{0, 4})?)$"
# A relative folder name: no "..", no absolute path, no backslash, no hidden parts.
_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
MODEL_PATTERN = rf"^{_PART}(?:/{_PART}){{0,3}}$"
BUILT_IN = "minilm, hashing, hashing:<dim> (dim from 16 to 65536), none (with dim)"


class EncoderAllowList:
    """``check(name)`` gives the encoder spec to create a collection with, or ``InvalidInput``
    saying what is allowed. ``models``: the directory of allowed model folders, or None."""

    def __init__(self, models: Path | None = None) -> None:
        self.models = models.resolve() if models is not None else None

    @property
    def pattern(self) -> str:
        """What the OpenAPI document shows for ``encoder``."""
        if self.models is None:
            return BUILT_IN_PATTERN
        return rf"{BUILT_IN_PATTERN}|{MODEL_PATTERN}"

    def check(self, name: str) -> str:
        if re.match(BUILT_IN_PATTERN, name):
            return name
        if self.models is not None and re.match(MODEL_PATTERN, name):
            folder = _inside(self.models, name)
            if folder is not None:
                return str(folder)
        raise InvalidInput(f"encoder {name[:200]!r} is not allowed; {self.allowed()}")

    def rerank(self, value: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        """A search's ``rerank`` with its "cross-encoder:NAME" turned into the folder NAME in
        the models directory (a client names no other path)."""
        model = value.get("model") if isinstance(value, dict) else value
        if not isinstance(model, str) or not model.startswith("cross-encoder:"):
            return value
        name = model.removeprefix("cross-encoder:")
        folder = None
        if self.models is not None and re.match(MODEL_PATTERN, name):
            folder = _inside(self.models, name)
        if folder is None:
            raise InvalidInput(
                f"rerank cross-encoder {name[:200]!r} is not allowed: over HTTP a "
                "cross-encoder is a model folder in the server's models directory "
                '(`sleuth serve --models DIR`), or "trained"',
                field="rerank",
            )
        given = f"cross-encoder:{folder}"
        return {**value, "model": given} if isinstance(value, dict) else given

    def allowed(self) -> str:
        if self.models is None:
            return (
                f"use {BUILT_IN}; model folders need a server started with "
                "`sleuth serve --models DIR`"
            )
        found = sorted(
            p.name for p in self.models.iterdir() if not p.is_symlink() and _is_model(p)
        )[:20]
        return f"use {BUILT_IN}, or a model folder in the server's models directory" + (
            f": {', '.join(found)}" if found else " (it holds none now)"
        )


def _inside(models: Path, name: str) -> Path | None:
    """The model folder ``name`` under ``models``, walked one part at a time, so that a
    symbolic link (which could lead anywhere) ends the walk before it is followed."""
    folder = models
    for part in name.split("/"):
        folder = folder / part
        if folder.is_symlink() or not folder.is_dir():
            return None
    return folder if _is_model(folder) else None


def _is_model(folder: Path) -> bool:
    # The files sleuth.encoders.get_encoder takes as the sign of a sentence-transformers folder.
    return folder.is_dir() and any((folder / f).is_file() for f in ("modules.json", "config.json"))
