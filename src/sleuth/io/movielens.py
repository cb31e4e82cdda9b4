"""MovieLens movie lists as items: ``u.item`` (100K) and ``movies.dat`` (1M), Latin-1 files, and
``movies.csv`` (the current releases: ml-latest, ml-25m, ml-32m), UTF-8 CSV with quoted titles.

Each movie becomes ``{"id", "title", "text": "<genres>", "genres": [...], "year": int}``, so a
MovieLens folder can be both a catalog (``sleuth add``) and an events file (``sleuth record``).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from sleuth.errors import InvalidInput
from sleuth.io._files import located
from sleuth.io.text import open_text
from sleuth.types import Item, parse_item

__all__ = ["MOVIE_FILES", "read_movies"]

MOVIE_FILES = ("u.item", "movies.dat", "movies.csv")
MOVIES_CSV = ["movieId", "title", "genres"]  # the header of movies.csv
NO_GENRES = "(no genres listed)"  # ML-10M and later, in place of a genre
# u.item's 19 genre flags, in the order of u.genre (which is used instead when present).
GENRES_100K = (
    *("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime"),
    *("Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery"),
    *("Romance", "Sci-Fi", "Thriller", "War", "Western"),
)
_YEAR = re.compile(r"\((\d{4})\)\s*$")


def read_movies(path: str | Path, text_fields: tuple[str, ...] = ("title", "text")) -> list[Item]:
    """The movies of a MovieLens folder or of its ``u.item`` / ``movies.dat`` / ``movies.csv``."""
    path = Path(path)
    if path.is_dir():
        found = [path / name for name in MOVIE_FILES if (path / name).is_file()]
        if not found:
            raise InvalidInput(
                f"{path} has no {', '.join(MOVIE_FILES[:-1])} or {MOVIE_FILES[-1]}",
                path=str(path),
            )
        path = found[0]
    if path.suffix.lower() == ".csv":
        return _read_csv(path, text_fields)
    genres = _genres(path.parent / "u.genre")
    items = []
    with path.open(encoding="latin-1") as f:
        for n, line in enumerate(f, 1):
            text = line.rstrip("\r\n")
            if not text:
                continue
            if path.name == "movies.dat" or "::" in text:
                cells = text.split("::")
                if len(cells) != 3:
                    raise located(path, n, f"expected 'id::title::genres', got {text[:80]!r}")
                names = [g for g in cells[2].split("|") if g and g != NO_GENRES]
            else:
                cells = text.split("|")
                if len(cells) != 5 + len(genres):
                    raise located(
                        path, n, f"expected {5 + len(genres)} '|'-separated cells, got {len(cells)}"
                    )
                names = [g for g, flag in zip(genres, cells[5:]) if flag == "1"]
            items.append(_movie(cells[0], cells[1], names, text_fields, path, n))
    return items


def _read_csv(path: Path, text_fields: tuple[str, ...]) -> list[Item]:
    """``movies.csv``: ``movieId,title,genres``, titles quoted when they hold a comma."""
    items = []
    with open_text(path) as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header != MOVIES_CSV:
                raise located(
                    path, 1, f"expected the header {','.join(MOVIES_CSV)}, got {header!r:.120}"
                )
            line = reader.line_num + 1  # a quoted cell may span lines: name the first
            for cells in reader:
                if cells:
                    if len(cells) != 3:
                        raise located(path, line, f"expected 3 cells, got {len(cells)}")
                    names = [g for g in cells[2].split("|") if g and g != NO_GENRES]
                    items.append(_movie(cells[0], cells[1], names, text_fields, path, line))
                line = reader.line_num + 1
        except csv.Error as exc:
            raise located(path, reader.line_num, f"malformed CSV: {exc}") from None
    return items


def _movie(
    movie_id: str, title: str, genres: list[str], text_fields: tuple[str, ...], path: Path, n: int
) -> Item:
    raw: dict[str, Any] = {"id": movie_id, "title": title.strip() or f"movie {movie_id}"}
    raw["text"] = ", ".join(genres) if genres else "unknown genre"
    raw["genres"] = genres
    year = _YEAR.search(title)
    if year:
        raw["year"] = int(year.group(1))
    try:
        return parse_item(raw, text_fields)
    except InvalidInput as exc:
        raise located(path, n, exc.message, **exc.details) from None


def _genres(path: Path) -> tuple[str, ...]:
    """The genre names of ``u.genre`` (``name|index`` lines) in index order."""
    if not path.is_file():
        return GENRES_100K
    by_index: dict[int, str] = {}
    for n, line in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
        cells = line.strip().split("|")
        if cells == [""]:
            continue
        if len(cells) != 2 or not cells[1].isdigit() or int(cells[1]) in by_index:
            raise located(path, n, f"expected 'genre|index' with a new index, got {line[:80]!r}")
        by_index[int(cells[1])] = cells[0]
    return tuple(by_index[i] for i in sorted(by_index))
