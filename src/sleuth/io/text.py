"""Opening input files as text: UTF-8 by default, or what a byte-order mark names, with
undecodable bytes reported by file and line."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from sleuth.errors import InvalidInput

__all__ = ["open_text"]

# Byte-order marks, longest first (UTF-32 LE starts with UTF-16 LE's mark). Spreadsheets save
# "Unicode text" as UTF-16; without a mark a file is read as UTF-8.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@contextmanager
def open_text(path: Path) -> Iterator[IO[str]]:
    """``path`` as text: UTF-8, or the UTF-8/16/32 its byte-order mark names (the mark is
    dropped, so it cannot corrupt the first column name or key). Undecodable bytes are an
    ``InvalidInput`` naming the file and line."""
    try:
        with path.open("rb") as raw:
            head = raw.read(4)
        encoding = next((name for bom, name in _BOMS if head.startswith(bom)), "utf-8")
        if encoding == "utf-8" and b"\x00" in head[:2]:  # no item or event file starts with NUL
            raise InvalidInput(
                f"{path}:1: looks like UTF-16 or UTF-32 without a byte-order mark; "
                "save the file as UTF-8",
                path=str(path),
                line=1,
            )
        f = path.open(encoding=encoding, newline="")
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}", path=str(path)) from None
    with f:
        try:
            yield f
        except UnicodeDecodeError as exc:
            line = _undecodable_line(path, encoding)
            raise InvalidInput(
                f"{path}:{line}: not {encoding.removesuffix('-sig').upper()} text "
                f"({exc.reason}); save the file as UTF-8",
                path=str(path),
                line=line,
            ) from None


def _undecodable_line(path: Path, encoding: str) -> int:
    # Decoding is buffered, so the reader's error cannot say where it was; decode again whole
    # (only on this error path) to find the first bad byte's line.
    data = path.read_bytes()
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        return data[: exc.start].decode(encoding, errors="replace").count("\n") + 1
    return 1
