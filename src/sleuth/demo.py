"""Demo content built offline: the installed Python standard library's own documentation.

Every machine that runs sleuth has this corpus, it is real prose with real structure (modules,
classes, methods; deprecated flags; async tags), and building it needs no network. Sources are
parsed with :mod:`ast`, never imported, so modules with import side effects (``antigravity``
opens a browser, ``this`` prints) stay harmless.
"""

from __future__ import annotations

import ast
import copy
import inspect
import os
import re
import sysconfig
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sleuth.errors import InvalidInput

__all__ = ["stdlib_items"]

MIN_DOC_CHARS = 40
MAX_TEXT_CHARS = 2000
MAX_SIGNATURE_CHARS = 160
KINDS = ("topic", "module", "class", "function", "method")
TOPIC_MODULE = "reference"  # the "module" attribute of language-reference topics
SKIP_DIRS = frozenset(
    {"site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3", "tkinter",
     "turtledemo", "ensurepip", "__pycache__"}
)  # fmt: skip
# Submodules are generated codec tables ("Python Character Mapping Codec cp437 ..."): noise.
SKIP_SUBMODULES_OF = frozenset({"encodings"})
# os.path is posixpath (or ntpath) under another name; the docs, and users, say os.path.
MODULE_ALIASES = {os.path.__name__: "os.path"}
_DEPRECATED = re.compile(r"\bdeprecated\b", re.IGNORECASE)
_EXCEPTION_BASE = re.compile(r"(Error|Exception|Warning)$")


def stdlib_items(limit: int | None = 4000) -> list[dict[str, Any]]:
    """Items documenting the installed standard library and the language reference topics.

    Each item: ``id`` (``"json.dumps"``), ``title`` (name and signature), ``text`` (the cleaned
    docstring, cut near 2,000 characters at a paragraph or sentence end) and the attributes
    ``module`` (top-level package; ``"reference"`` for topics), ``kind`` (topic, module, class,
    function or method), ``lines`` (docstring lines), ``deprecated`` and ``tags``.

    With ``limit``, every topic and module is kept, then classes, functions and methods are
    taken in turn, each spread across modules, until ``limit`` items; the result keeps the
    walk order, so the same installation always gives the same items.

    >>> items = stdlib_items(limit=100)
    >>> len(items), items[0]["kind"]
    (100, 'topic')
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InvalidInput(
            f"limit must be a whole number >= 0 or None, got {limit!r}", limit=repr(limit)
        )
    items = _topic_items() + list(_module_items())
    seen: set[str] = set()
    unique = []
    for item in items:
        if item["id"] not in seen:  # a name defined in both branches of an `if` counts once
            seen.add(item["id"])
            unique.append(item)
    if limit is None or len(unique) <= limit:
        return unique
    return _balanced(unique, limit)


def _balanced(items: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` items in priority order, returned in their original order."""
    first = [i for i, item in enumerate(items) if item["kind"] in ("topic", "module")]
    queues: list[list[int]] = []
    for kind in ("class", "function", "method"):
        # Within a kind, take each module's first item, then each module's second, and so on,
        # so that a limit leaves zipfile with methods as well as abc.
        rank: dict[str, int] = {}
        keyed = []
        for i, item in enumerate(items):
            if item["kind"] == kind:
                n = rank[item["module"]] = rank.get(item["module"], -1) + 1
                keyed.append((n, i))
        queues.append([i for _, i in sorted(keyed)])
    order = first[:]
    for turn in range(max((len(q) for q in queues), default=0)):
        order.extend(q[turn] for q in queues if turn < len(q))
    return [items[i] for i in sorted(order[:limit])]


def _topic_items() -> list[dict[str, Any]]:
    from pydoc_data.topics import topics  # a plain dict of text; importing it has no effects

    items = []
    for name in sorted(topics):
        text = topics[name].strip()
        if len(text) >= MIN_DOC_CHARS:
            items.append(_item(f"topic:{name}", f"topic: {name}", text, TOPIC_MODULE, "topic"))
    return items


def _module_items() -> Iterator[dict[str, Any]]:
    for name, path in _stdlib_modules(Path(sysconfig.get_paths()["stdlib"])):
        try:
            with warnings.catch_warnings():  # invalid escape sequences in old sources
                warnings.simplefilter("ignore")
                tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError, OSError):
            continue  # a file this Python cannot parse documents nothing useful
        yield from _items_of(name, tree)


def _stdlib_modules(root: Path) -> Iterator[tuple[str, Path]]:
    """(dotted module name, source path) of every public stdlib module, in sorted order."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        package = here.relative_to(root).parts
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in SKIP_DIRS and _public(d) and d.isidentifier()
            and (here / d / "__init__.py").is_file()
            and not (package and package[0] in SKIP_SUBMODULES_OF)
        )  # fmt: skip
        for filename in sorted(filenames):
            stem, ext = os.path.splitext(filename)
            if ext != ".py" or not stem.isidentifier():
                continue
            if stem == "__init__":
                if package:
                    yield ".".join(package), here / filename
            elif _public(stem) and not (package and package[0] in SKIP_SUBMODULES_OF):
                yield ".".join((*package, stem)), here / filename


def _items_of(module: str, tree: ast.Module) -> Iterator[dict[str, Any]]:
    module = MODULE_ALIASES.get(module, module)
    top = module.split(".")[0]
    doc = _docstring(tree)
    if doc:
        yield _item(module, module, doc, top, "module")
    exported = _literal_all(tree)
    for node in _top_level(tree.body):
        if not isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if not _public(node.name) or (exported is not None and node.name not in exported):
            continue  # asyncio lists _get_running_loop in __all__: private all the same
        qualname = f"{module}.{node.name}"
        if isinstance(node, ast.ClassDef):
            yield from _class_items(qualname, node, top)
        else:
            doc = _docstring(node)
            if doc:
                title = qualname + _signature(node, method=False)
                yield _item(qualname, title, doc, top, "function", _function_tags(node))


def _class_items(qualname: str, node: ast.ClassDef, top: str) -> Iterator[dict[str, Any]]:
    doc = _docstring(node)
    bases = [ast.unparse(b) for b in node.bases] + [ast.unparse(k) for k in node.keywords]
    if doc:
        title = f"class {qualname}" + (f"({_short(', '.join(bases))})" if bases else "")
        tags = ["exception"] if any(_EXCEPTION_BASE.search(b) for b in bases) else []
        yield _item(qualname, title, doc, top, "class", tags)
    for child in node.body:
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and _public(child.name):
            doc = _docstring(child)
            if doc:
                name = f"{qualname}.{child.name}"
                tags = _function_tags(child)
                title = name if "property" in tags else name + _signature(child, method=True)
                yield _item(name, title, doc, top, "method", tags)


def _item(
    item_id: str, title: str, doc: str, module: str, kind: str, tags: list[str] | None = None
) -> dict[str, Any]:
    text = inspect.cleandoc(doc)
    return {
        "id": item_id,
        "title": title,
        "text": _truncate(text),
        "module": module,
        "kind": kind,
        "lines": text.count("\n") + 1,
        "deprecated": bool(_DEPRECATED.search(text)),
        "tags": tags or [],
    }


def _docstring(node: ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The cleaned docstring, or "" when it is missing or too short to be worth an item."""
    doc = ast.get_docstring(node, clean=True) or ""
    return doc if len(doc) >= MIN_DOC_CHARS else ""


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, including those under ``if``/``try`` (platform variants)."""
    for node in body:
        if isinstance(node, ast.If):
            yield from _top_level(node.body)
            yield from _top_level(node.orelse)
        elif isinstance(node, ast.Try):
            yield from _top_level(node.body)
            for handler in node.handlers:
                yield from _top_level(handler.body)
            yield from _top_level(node.orelse)
            yield from _top_level(node.finalbody)
        else:
            yield node


def _literal_all(tree: ast.Module) -> set[str] | None:
    """The module's ``__all__`` when it is a literal list of names, else None."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            try:
                names = ast.literal_eval(node.value)
            except ValueError:
                return None
            if isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names):
                return set(names)
            return None
    return None


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef, *, method: bool) -> str:
    args = node.args
    decorators = {_decorator_name(d) for d in node.decorator_list}
    if method and "staticmethod" not in decorators and (args.posonlyargs or args.args):
        args = copy.copy(args)  # drop self / cls, as the documentation does
        if args.posonlyargs:
            args.posonlyargs = args.posonlyargs[1:]
        else:
            args.args = args.args[1:]
        positional = len(args.posonlyargs) + len(args.args)
        if len(args.defaults) > positional:  # every argument had a default, self too
            args.defaults = args.defaults[len(args.defaults) - positional :]
    return f"({_short(ast.unparse(args))})"


def _function_tags(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    tags = ["async"] if isinstance(node, ast.AsyncFunctionDef) else []
    decorators = {_decorator_name(d) for d in node.decorator_list}
    for name in ("property", "classmethod", "staticmethod", "abstractmethod"):
        if name in decorators:
            tags.append("abstract" if name == "abstractmethod" else name)
    return tags


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _truncate(text: str) -> str:
    """``text`` cut before MAX_TEXT_CHARS at a paragraph, else sentence, else word end."""
    if len(text) <= MAX_TEXT_CHARS:
        return text
    head = text[:MAX_TEXT_CHARS]
    floor = MAX_TEXT_CHARS // 2  # never keep less than half for the sake of a clean cut
    cut = head.rfind("\n\n")
    if cut < floor:
        cut = max(head.rfind(". "), head.rfind(".\n")) + 1
    if cut < floor:
        cut = head.rfind(" ")
    if cut < floor:
        cut = MAX_TEXT_CHARS
    return head[:cut].rstrip() + " …"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_SIGNATURE_CHARS else text[: MAX_SIGNATURE_CHARS - 1] + "…"


def _public(name: str) -> bool:
    return not name.startswith("_")
