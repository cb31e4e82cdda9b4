"""Sharded collections on Ray against the same shards in this process and one collection, in
the same run: latency of single queries (p50, p95) through ``RayGroup`` (one actor per shard),
``LocalGroup`` and one collection, with identical answers counted; then throughput over HTTP
through ``sleuth serve --ray``'s Serve application with R = 1 and 2 replicas per shard,
against the plain ``sleuth serve`` app (uvicorn, one process) on the same collection.

Data: BEIR SciFact (5,183 documents with their cached MiniLM vectors; test queries encoded
once by MiniLM and sent with their text: ``benchmarks/sharded.py``'s loading). Ray runs
locally (``ray.init``) on this machine's cores: the figures are the per-shard and per-hop
costs a plan for more machines starts from (``docs/scale-out.md``), not a speed-up.

    python benchmarks/sharded_ray.py                  # S = 2, 200 queries
    python benchmarks/sharded_ray.py --shards 4 --queries 100 --clients 4
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _scale_data as data
import sharded as local
from _common import CACHE_DIR, print_table, ratio, summary_row, write_result

import sleuth
from sleuth.shards.compare import same_ranking

WORK = CACHE_DIR / "sharded-ray"  # --work: elsewhere (deleted when measured)
MODES = ("lexical", "hybrid")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def latency(one: Any, sides: dict[str, Any], modes: dict[str, list[dict[str, Any]]]) -> Any:
    """Per mode: each side's p50/p95 (two interleaved passes) and its answers equal to one's."""
    out = {}
    for mode in MODES:
        calls = modes[mode]
        ref, t_one = local.run(one, calls)
        rows: dict[str, Any] = {}
        times = {name: [] for name in sides}
        answers = {}
        for name, col in sides.items():
            answers[name], times[name] = local.run(col, calls)
        for name, col in reversed(list(sides.items())):
            times[name] += local.run(col, calls)[1]
        t_one += local.run(one, calls)[1]
        lat_one = data.latency(t_one)
        rows["one"] = {"p50_ms": lat_one["p50_ms"], "p95_ms": lat_one["p95_ms"]}
        for name in sides:
            lat = data.latency(times[name])
            same = sum(same_ranking(r, g) is None for r, g in zip(ref, answers[name]))
            rows[name] = {
                "p50_ms": lat["p50_ms"],
                "p95_ms": lat["p95_ms"],
                "identical": same,
                "of": len(calls),
                "p50_ratio_to_one": ratio(lat["p50_ms"], lat_one["p50_ms"]),
            }
        out[mode] = rows
        print(f"  {mode}: " + ", ".join(f"{n} {r['p50_ms']:.2f} ms" for n, r in rows.items()))
    return out


def throughput(url: str, bodies: list[dict[str, Any]], clients: int, seconds: float) -> Any:
    """Searches per second from ``clients`` HTTP clients for ``seconds``, and the statuses."""
    import httpx

    done: list[float] = []
    statuses: dict[int, int] = {}
    stop = time.perf_counter() + seconds

    def client(offset: int) -> None:
        with httpx.Client(timeout=120) as http:
            n = offset
            while time.perf_counter() < stop:
                t = time.perf_counter()
                r = http.post(url, json=bodies[n % len(bodies)])
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                if r.status_code == 200:
                    done.append(time.perf_counter() - t)
                n += clients

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - start
    lat = data.latency(done) if done else {"p50_ms": None, "p95_ms": None}
    return {
        "qps": len(done) / took,
        "p50_ms": lat["p50_ms"],
        "p95_ms": lat["p95_ms"],
        "statuses": {str(k): v for k, v in statuses.items()},
    }


def wait_ready(url: str, patience: float = 300.0) -> None:
    import httpx

    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=10).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {patience:g} s")


def plain_server(data_dir: Path, port: int) -> Any:
    """``sleuth serve``'s app (one process, uvicorn) in a thread; returns the server."""
    import uvicorn

    from sleuth.catalog import Engine
    from sleuth.server import create_app

    config = uvicorn.Config(
        create_app(Engine(data_dir)), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    return server


def http_bodies(dataset: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"query": t, "vector": [float(x) for x in v], "mode": "hybrid", "k": local.K}
        for t, v in zip(dataset["texts"], dataset["qvec"])
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args()
    started = time.perf_counter()
    import ray
    from ray import serve

    from sleuth.server.guards import AllowedHosts
    from sleuth.shards.opening import open_sharded
    from sleuth.shards.ray_group import RayGroup
    from sleuth.shards.serve import ServeOptions, serve_app

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    dataset = local.scifact(args.queries, args.work)
    one, one_build = local.build(args.work / "one", dataset, None)
    folder = args.work / "data" / "docs"
    sharded, sharded_build = local.build(folder, dataset, args.shards)
    sharded.close()
    print(f"built: one {one_build:.1f} s, {args.shards} shards {sharded_build:.1f} s")
    results: dict[str, Any] = {"items": len(dataset["items"]), "queries": args.queries}

    t = time.perf_counter()
    ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False)
    results["ray_init_s"] = time.perf_counter() - t
    t = time.perf_counter()
    on_ray = open_sharded(folder, group=lambda f: RayGroup(f, name="bench", num_cpus=0))
    on_ray.count()  # every actor up and its shard open
    results["actors_up_s"] = time.perf_counter() - t
    in_process = sleuth.open(folder)
    try:
        modes = local.requests(dataset)
        print(f"latency, {args.queries} queries, S={args.shards}, load {os.getloadavg()[0]:.1f}")
        results["latency"] = latency(one, {"local": in_process, "ray": on_ray}, modes)
    finally:
        in_process.close()
        on_ray.close()
        one.close()

    bodies = http_bodies(dataset)
    results["throughput"] = {}
    port = free_port()
    server = plain_server(folder.parent, port)
    url = f"http://127.0.0.1:{port}/collections/docs/search"
    wait_ready(f"http://127.0.0.1:{port}/health")
    print(f"throughput, {args.clients} clients, {args.seconds:g} s, hybrid")
    results["throughput"]["plain"] = throughput(url, bodies, args.clients, args.seconds)
    server.should_exit = True
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    url = f"http://127.0.0.1:{port}/collections/docs/search"
    try:
        for replicas in (1, 2):
            t = time.perf_counter()
            options = ServeOptions(replicas=replicas, shard_cpus=0)
            app = serve_app(
                folder.parent, options, allowed_hosts=AllowedHosts.for_bind("127.0.0.1")
            )
            serve.run(app, name="sleuth", route_prefix="/")
            wait_ready(f"http://127.0.0.1:{port}/health")
            up = time.perf_counter() - t
            row = throughput(url, bodies, args.clients, args.seconds)
            row["deploy_s"] = up
            results["throughput"][f"serve R={replicas}"] = row
            for name in serve.status().applications:
                serve.delete(name)
    finally:
        serve.shutdown()
        ray.shutdown()
    for name, row in results["throughput"].items():
        print(f"  {name}: {row['qps']:.1f} q/s, p50 {row['p50_ms']} ms, {row['statuses']}")

    rows = []
    for mode, sides in results["latency"].items():
        for name, row in sides.items():
            same = f"{row['identical']}/{row['of']}" if "identical" in row else "ref"
            rows.append([mode, name, row["p50_ms"], row["p95_ms"], same])
    print_table(
        "latency: one collection, LocalGroup, RayGroup",
        ["mode", "side", "p50 ms", "p95 ms", "identical"],
        rows,
    )
    plain_qps = results["throughput"]["plain"]["qps"]
    summary = [
        summary_row(
            f"hybrid p50 ms, RayGroup S={args.shards} vs one collection",
            results["latency"]["hybrid"]["ray"]["p50_ms"],
            results["latency"]["hybrid"]["one"]["p50_ms"],
            higher_is_better=False,
            unit="ms",
        ),
        *(
            summary_row(
                f"hybrid q/s over HTTP, {name} vs plain sleuth serve",
                row["qps"],
                plain_qps,
                higher_is_better=True,
                unit="q/s",
            )
            for name, row in results["throughput"].items()
            if name != "plain"
        ),
    ]
    write_result(
        "sharded_ray",
        peer="one sleuth collection; the same shards in this process (LocalGroup); plain "
        "sleuth serve",
        parameters={
            "k": local.K,
            "shards": args.shards,
            "queries": args.queries,
            "clients": args.clients,
            "seconds": args.seconds,
            "ray": ray.__version__,
        },
        results=results,
        summary=summary,
        started=started,
        notes=[
            "Ray local on this machine: every actor and replica shares its cores",
            "latency: single queries, two interleaved passes per side",
            "throughput: clients in this process, hybrid queries with their vectors",
        ],
    )
    shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
