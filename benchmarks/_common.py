"""What every benchmark shares: paths, the data check, machine and version facts, interleaved
repeated timing, tables, and the JSON result file.

Timings are wall-clock (``time.perf_counter``) on a shared, noisy machine, so every figure is the
median of at least five runs, all runs are kept in the JSON, and sleuth and its peer are measured
in alternating order within the same process (ABBA…) so that a slow patch hits both.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "BENCH_DIR",
    "CACHE_DIR",
    "DATA_DIR",
    "RESULTS_DIR",
    "Timing",
    "code_commit",
    "compare",
    "machine_info",
    "open_cached",
    "print_table",
    "ratio",
    "require_data",
    "summary_row",
    "time_runs",
    "versions",
    "write_result",
]

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
# The shared data sits next to the repository (../shared/data); licenses forbid copying it in.
DATA_DIR = REPO_DIR.parent / "shared" / "data"
RESULTS_DIR = BENCH_DIR / "results"
CACHE_DIR = BENCH_DIR / ".cache"

PACKAGES = (
    "sleuth", "numpy", "faiss-cpu", "bm25s", "torch", "sentence-transformers",
    "numba", "PyStemmer", "scipy", "transformers",
)


def require_data(*parts: str) -> Path:
    """The shared data folder ``DATA_DIR/parts``, or exit 0 with a message saying why not."""
    path = DATA_DIR.joinpath(*parts)
    if not path.exists():
        print(
            f"SKIPPED {Path(sys.argv[0]).name}: {path} is absent. The benchmarks read the shared "
            "datasets from ../shared/data next to the repository (see DESIGN.md, 'Data you have')."
        )
        sys.exit(0)
    return path


# -- facts about the run -----------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def machine_info() -> dict[str, Any]:
    ram = _ram_bytes()
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": round(ram / 2**30, 1) if ram else None,
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    if hasattr(os, "sched_getaffinity"):
        info["usable_cores"] = len(os.sched_getaffinity(0))
    if hasattr(os, "getloadavg"):
        info["load_avg_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# -- timing ------------------------------------------------------------------------------------


@dataclass
class Timing:
    """Wall-clock seconds of repeated runs of one piece of work (``n`` units per run)."""

    runs: list[float] = field(default_factory=list)
    n: int = 1

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def rate(self) -> float:
        """Units per second at the median run."""
        return self.n / self.median

    def to_dict(self, unit: str = "s") -> dict[str, Any]:
        return {
            "units_per_run": self.n,
            "median_s": self.median,
            "min_s": min(self.runs),
            "runs_s": self.runs,
            f"median_{unit}_per_s": self.rate,
            f"runs_{unit}_per_s": [self.n / r for r in self.runs],
        }


def time_runs(fn: Callable[[], Any], *, repeat: int = 5, warmup: int = 1, n: int = 1) -> Timing:
    """Time ``fn`` ``repeat`` times after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    timing = Timing(n=n)
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        timing.runs.append(time.perf_counter() - t)
    return timing


def compare(
    fns: dict[str, Callable[[], Any]], *, repeat: int = 5, warmup: int = 1, n: int = 1
) -> dict[str, Timing]:
    """Time several functions on the same work, interleaved: round r runs them in order, round
    r + 1 in reverse, so drift in machine load is shared instead of landing on one of them."""
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    out = {name: Timing(n=n) for name in names}
    for r in range(repeat):
        for name in names if r % 2 == 0 else names[::-1]:
            t = time.perf_counter()
            fns[name]()
            out[name].runs.append(time.perf_counter() - t)
    return out


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


# -- output ------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value == 0 or 0.01 <= abs(value) < 1e6:
            return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
        return f"{value:.3g}"
    return "—" if value is None else str(value)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A rich table when rich is installed, aligned plain text otherwise."""
    cells = [[_fmt(v) for v in row] for row in rows]
    try:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table
    except ImportError:
        widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
        print(f"\n{title}")
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
        for row in cells:
            print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))
        return
    table = Table(title=title)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in cells:
        table.add_row(*(escape(v) for v in row))  # "[...]" in a label is text, not markup
    Console(width=max(Console().width, 120)).print(table)


def summary_row(metric: str, sleuth: float | None, peer: float | None, *, higher_is_better: bool,
                target: float | None = None, target_on: str = "ratio",
                unit: str = "") -> dict[str, Any]:
    """One line of the README table. ``ratio`` is sleuth/peer. ``target`` applies to the ratio
    (``target_on="ratio"``) or to sleuth's own figure (``"value"``): a floor when higher is
    better, a ceiling otherwise."""
    r = ratio(sleuth, peer) if sleuth is not None and peer is not None else None
    judged = r if target_on == "ratio" else sleuth
    met = None
    if target is not None and judged is not None:
        met = judged >= target if higher_is_better else judged <= target
    return {"metric": metric, "unit": unit, "sleuth": sleuth, "peer": peer, "ratio": r,
            "higher_is_better": higher_is_better, "target": target, "target_on": target_on,
            "target_met": met}


def write_result(name: str, *, peer: str, parameters: dict[str, Any], results: dict[str, Any],
                 summary: list[dict[str, Any]], notes: list[str] | None = None,
                 started: float | None = None, machine: dict[str, Any] | None = None) -> Path:
    """Write ``results/<name>.json`` atomically (a half-written file never replaces a good one)."""
    RESULTS_DIR.mkdir(exist_ok=True)
    payload = {
        "benchmark": name,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - started, 1) if started is not None else None,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": machine or machine_info(),
        "load_avg_at_end": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg")
        else None,
        "versions": versions(),
        "peer": peer,
        "parameters": parameters,
        "summary": summary,
        "results": results,
        "notes": notes or [],
    }
    path = RESULTS_DIR / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")
    os.replace(tmp, path)
    print(f"\nwrote {path.relative_to(REPO_DIR)}")
    return path


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def open_cached(folder: Any, corpus: list[Any], rebuild: bool = False) -> Any:
    """The cached SciFact collection, built (or completed after an interruption) if needed."""
    import sleuth

    path = CACHE_DIR / "scifact-minilm"
    if rebuild and path.exists():
        shutil.rmtree(path)
    col = sleuth.open(path, encoder="minilm")
    if col.count() != len(corpus):
        print(f"building {path} ({len(corpus):,} documents; encoding takes minutes, vectors are "
              "cached as they are done, so an interrupted build resumes)")
        t = time.perf_counter()
        col.upsert(corpus, progress=True)
        col.save()
        print(f"built in {time.perf_counter() - t:.0f} s")
    else:
        print(f"reusing {path} ({col.count():,} items)")
    return col


def code_commit(src: Any) -> str | None:
    """The git commit of the checkout whose ``src/`` is ``src`` (recorded instead of its path,
    which is machine-specific)."""
    import subprocess

    if not src:
        return None
    out = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() or None
