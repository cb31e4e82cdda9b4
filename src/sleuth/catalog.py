"""The collections of one data folder, each in its own subfolder: what a server serves.

A collection that cannot be opened (a damaged store, missing metadata, a newer format) is
*unavailable*: ``get`` raises ``Unavailable`` with the reason, and every other collection keeps
working. The failed open is retried on the next access once the collection's store files
changed (after ``sleuth repair``, a restore from backup...), not before: retrying an unchanged
file would only fail the same way on every request.

>>> engine = sleuth.Engine("data")  # doctest: +SKIP
>>> engine.create("docs", encoder="hashing")  # doctest: +SKIP
>>> engine.get("docs").search("sort a list")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sleuth.config import CollectionConfig
from sleuth.encoders import Encoder
from sleuth.engine import Collection
from sleuth.errors import Conflict, InvalidInput, NotFound, SleuthError, Unavailable
from sleuth.opening import open_collection
from sleuth.shards.layout import is_sharded
from sleuth.store.schema import FILENAME
from sleuth.store.sqlite import Store

__all__ = ["NAME_PATTERN", "Engine"]

log = logging.getLogger("sleuth.catalog")

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)
_TRASH = ".deleting-"
_STORE_FILES = (FILENAME, f"{FILENAME}-wal")
_HELP = "`sleuth info` and `sleuth repair` on the server say more"


@dataclass(frozen=True)
class _Broken:
    reason: str  # without the data folder's path: it is shown to clients
    stamp: tuple[tuple[int, int] | None, ...]  # the store files after the failed open


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
        self._broken: dict[str, _Broken] = {}
        self._lock = threading.Lock()
        for leftover in self.path.glob(f"{_TRASH}*"):  # a delete interrupted by a crash
            shutil.rmtree(leftover, ignore_errors=True)

    def names(self) -> list[str]:
        """Every collection in the data folder, sorted."""
        # Under the lock: probing a store while this process creates it would hold a read
        # lock just as the creation switches the new file to WAL ("database is locked").
        with self._lock:
            opened = set(self._open)
            return sorted(
                p.name
                for p in self.path.iterdir()
                if _NAME.match(p.name) and (p.name in opened or _is_collection(p))
            )

    def get(self, name: str) -> Collection:
        """The open collection ``name``; ``NotFound`` if there is none, ``Unavailable`` if it
        cannot be opened (the reason is in the message and ``details["reason"]``)."""
        folder = self._folder(name)
        with self._lock:
            col = self._open.get(name)
            if col is not None:
                return col
            if not _is_collection(folder):
                raise NotFound(f"no collection named {name!r}", collection=name)
            broken = self._broken.get(name)
            if broken is None or broken.stamp != _stamp(folder):
                try:
                    col = open_collection(folder, lock_timeout=self.lock_timeout)
                except Exception as exc:
                    # Stamped after the attempt, which may itself touch the files (WAL).
                    broken = self._broken[name] = _Broken(self._reason(exc), _stamp(folder))
                    log.warning("collection %r is unavailable: %s", name, broken.reason)
                else:
                    self._broken.pop(name, None)
                    self._open[name] = col
                    return col
        raise Unavailable(
            f"collection {name!r} cannot be opened: {broken.reason} ({_HELP})",
            collection=name,
            reason=broken.reason,
        )

    @contextmanager
    def using(self, name: str) -> Iterator[Collection]:
        """``get(name)`` for the span of one operation: if the collection is deleted meanwhile
        (which closes it), the operation's error becomes ``NotFound``, as if it came later."""
        col = self.get(name)
        try:
            yield col
        except Exception:
            if col.closed and self._open.get(name) is not col:
                raise NotFound(f"no collection named {name!r}", collection=name) from None
            raise

    def open_all(self, *, warm: bool = True) -> dict[str, str]:
        """Open every collection (``warm``: and run one search, so the model is loaded and the
        kernels compiled before the first request). Returns the unavailable ones and why; a
        collection whose warm-up search fails is closed and counted unavailable too."""
        for name in self.names():
            try:
                col = self.get(name)
            except (NotFound, Unavailable):
                continue
            try:
                if warm and col.count():  # without encoder, dense queries bring vectors
                    col.search(
                        "warm up", k=1, mode="hybrid" if col.encoder.encodes_text else "lexical"
                    )
            except Exception as exc:
                reason = f"a search fails: {self._reason(exc)}"
                with self._lock:
                    if self._open.pop(name, None) is col:
                        col.close()
                    self._broken[name] = _Broken(reason, _stamp(self.path / name))
                log.warning("collection %r is unavailable: %s", name, reason)
        return self.unavailable()

    def unavailable(self) -> dict[str, str]:
        """The collections whose last open failed, and why (as shown to clients)."""
        with self._lock:
            return {name: b.reason for name, b in sorted(self._broken.items())}

    def redact(self, text: str) -> str:
        """``text`` without the data folder's location: ``/srv/data/docs`` becomes ``docs``."""
        for root in {str(self.path.resolve()), str(self.path.absolute()), str(self.path)}:
            if root not in (".", ""):
                text = text.replace(root + os.sep, "").replace(root, "<data>")
        return text

    def create(
        self,
        name: str,
        *,
        config: CollectionConfig | None = None,
        encoder: str | Encoder | None = None,
        dim: int | None = None,
    ) -> Collection:
        """A new, empty collection (``encoder="none"`` with ``dim``: its items bring their
        vectors). An existing name is a ``Conflict``."""
        folder = self._folder(name)
        with self._lock:
            if _is_collection(folder):  # a blank store a killed creation left is completed
                raise Conflict(f"a collection named {name!r} already exists", collection=name)
            if encoder is None:
                encoder = self.default_encoder
            col = open_collection(
                folder, encoder=encoder, dim=dim, config=config, lock_timeout=self.lock_timeout
            )
            self._open[name] = col
            return col

    def delete(self, name: str) -> None:
        """Close the collection and remove its folder. The folder is first renamed away, so a
        crash midway leaves no half-deleted collection (the rest is removed on next start)."""
        folder = self._folder(name)
        with self._lock:
            if not (folder / FILENAME).exists() and not is_sharded(folder):
                raise NotFound(f"no collection named {name!r}", collection=name)
            col = self._open.pop(name, None)
            self._broken.pop(name, None)
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
            self._broken.clear()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _reason(self, exc: Exception) -> str:
        message = self.redact(str(exc)) or "no message"
        return message if isinstance(exc, SleuthError) else f"{message} ({type(exc).__name__})"

    def _folder(self, name: str) -> Path:
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidInput(
                f"collection name {name!r} is not allowed: use 1 to 64 letters, digits, '_', '-' "
                "or '.', starting with a letter or digit",
                pattern=NAME_PATTERN,
            )
        return self.path / name


def _stamp(folder: Path) -> tuple[tuple[int, int] | None, ...]:
    """What changes when a store file is rewritten: its modification time and size."""
    stamps: list[tuple[int, int] | None] = []
    for name in _STORE_FILES:
        try:
            st = (folder / name).stat()
        except OSError:
            stamps.append(None)
        else:
            stamps.append((st.st_mtime_ns, st.st_size))
    return tuple(stamps)


def _is_collection(folder: Path) -> bool:
    """A store that is more than the blank file a creation killed midway leaves (which
    ``create`` completes and nothing else lists); an unreadable one counts, to be reported.
    A sharded collection (``sleuth.shards``) is one by its manifest."""
    if is_sharded(folder):
        return True
    if not (folder / FILENAME).exists():
        return False
    try:
        store = Store(folder)
    except Exception:
        return True
    try:
        return store.state() != "blank"
    except Exception:
        return True
    finally:
        store.close()
