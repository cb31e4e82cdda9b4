"""The collections of one data folder, each in its own subfolder: what a server serves.

>>> engine = sleuth.Engine("data")  # doctest: +SKIP
>>> engine.create("docs", encoder="hashing")  # doctest: +SKIP
>>> engine.get("docs").search("sort a list")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import uuid
from pathlib import Path

from sleuth.config import CollectionConfig
from sleuth.encoders import Encoder
from sleuth.engine import Collection, open_collection
from sleuth.errors import Conflict, InvalidInput, NotFound
from sleuth.store.sqlite import FILENAME

__all__ = ["NAME_PATTERN", "Engine"]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)
_TRASH = ".deleting-"


class Engine:
    """Collections under ``data``, opened on first use and kept open until ``close()``.
    ``default_encoder`` is used by ``create`` when no ``encoder=`` is given (over the config's).

    Thread-safe: a server's request threads share one ``Engine``.
    """

    def __init__(
        self,
        data: str | Path,
        *,
        default_encoder: str | None = None,
        lock_timeout: float = 30.0,
    ) -> None:
        self.path = Path(data)
        self.default_encoder = default_encoder  # for new collections that name none
        self.path.mkdir(parents=True, exist_ok=True)
        self.lock_timeout = lock_timeout
        self._open: dict[str, Collection] = {}
        self._lock = threading.Lock()
        for leftover in self.path.glob(f"{_TRASH}*"):  # a delete interrupted by a crash
            shutil.rmtree(leftover, ignore_errors=True)

    def names(self) -> list[str]:
        """Every collection in the data folder, sorted."""
        return sorted(
            p.name for p in self.path.iterdir() if _NAME.match(p.name) and (p / FILENAME).exists()
        )

    def get(self, name: str) -> Collection:
        folder = self._folder(name)
        with self._lock:
            col = self._open.get(name)
            if col is None:
                if not (folder / FILENAME).exists():
                    raise NotFound(f"no collection named {name!r}", collection=name)
                col = self._open[name] = open_collection(folder, lock_timeout=self.lock_timeout)
            return col

    def create(
        self,
        name: str,
        *,
        config: CollectionConfig | None = None,
        encoder: str | Encoder | None = None,
    ) -> Collection:
        """A new, empty collection. An existing name is a ``Conflict``."""
        folder = self._folder(name)
        with self._lock:
            if (folder / FILENAME).exists():
                raise Conflict(f"a collection named {name!r} already exists", collection=name)
            if encoder is None:
                encoder = self.default_encoder
            col = open_collection(
                folder, encoder=encoder, config=config, lock_timeout=self.lock_timeout
            )
            self._open[name] = col
            return col

    def delete(self, name: str) -> None:
        """Close the collection and remove its folder. The folder is first renamed away, so a
        crash midway leaves no half-deleted collection (the rest is removed on next start)."""
        folder = self._folder(name)
        with self._lock:
            if not (folder / FILENAME).exists():
                raise NotFound(f"no collection named {name!r}", collection=name)
            col = self._open.pop(name, None)
            if col is not None:
                col.close()
            trash = self.path / f"{_TRASH}{name}-{uuid.uuid4().hex[:8]}"
            os.replace(folder, trash)
            shutil.rmtree(trash, ignore_errors=True)

    def opened(self) -> dict[str, Collection]:
        """The collections open now (the server reports their sizes)."""
        with self._lock:
            return dict(self._open)

    def close(self) -> None:
        with self._lock:
            for col in self._open.values():
                col.close()
            self._open.clear()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _folder(self, name: str) -> Path:
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidInput(
                f"collection name {name!r} is not allowed: use 1 to 64 letters, digits, '_', '-' "
                "or '.', starting with a letter or digit",
                pattern=NAME_PATTERN,
            )
        return self.path / name
