"""The demo collection and the HTTP server."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from sleuth.cli.distributed import LOCAL, OptionalAddress
from sleuth.cli.shell import (
    app,
    print_hits,
)


@app.command()
def demo(
    path: Annotated[Path, typer.Option(help="Where the demo collection lives.")] = Path(
        "demo-data/stdlib"
    ),
    encoder: Annotated[str, typer.Option(help="minilm or hashing.")] = "minilm",
) -> None:
    """Build the demo collection (the installed Python standard library's documentation) once,
    then run example searches."""
    import sleuth
    from sleuth.demo import stdlib_items

    with sleuth.open(path, encoder=encoder) as col:
        if col.count() == 0:
            items = stdlib_items()
            print(
                f"building the demo collection in {path}: {len(items)} documentation entries "
                "of the Python standard library",
                file=sys.stderr,
            )
            col.add(items, progress=True)
        examples = [
            ("how do I join two file paths", None),
            ("read a csv file row by row", None),
            ("parse command line arguments", {"kind": "class"}),
            ("run several coroutines concurrently", {"module": "asyncio"}),
        ]
        for query, where in examples:
            print(f"\n> {query}" + (f"   where {json.dumps(where)}" if where else ""))
            print_hits(col.search(query, k=5, where=where), False)


@app.command(cls=OptionalAddress)
def serve(
    data: Annotated[
        Path, typer.Option(help="The data folder: one subfolder per collection.")
    ] = Path("sleuth-data"),
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port).", min=0, max=65535)] = 8080,
    demo: Annotated[
        bool, typer.Option(help="Build the demo collection 'stdlib' first if it is absent.")
    ] = False,
    encoder: Annotated[
        str, typer.Option(help="Encoder of new collections that name none (and of the demo).")
    ] = "minilm",
    models: Annotated[
        Path | None,
        typer.Option(
            help="A directory of model folders that clients may name as a new collection's "
            "encoder (else only minilm and hashing).",
            exists=True,
            file_okay=False,
        ),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            help="Another name clients reach this server by (checked in Host when no key is "
            "set, against DNS rebinding); repeatable."
        ),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="[ADDRESS]",
            help="Serve on Ray Serve: a cluster's address (host:6379, or 'auto'), or none for "
            "a local Ray started and stopped here. Sharded collections' shards become Serve "
            "deployments. Needs the ray extra: pip install 'sleuth\\[ray]'.",
        ),
    ] = None,
    shards: Annotated[
        int, typer.Option(help="With --ray: shards of a collection created through the API.", min=1)
    ] = 1,
    replicas: Annotated[
        int, typer.Option(help="With --ray: replicas of each shard (Serve replicas).", min=1)
    ] = 1,
) -> None:
    """Run the HTTP server and web page. Set SLEUTH_API_KEY to require a key."""
    import os
    import threading
    import time

    import uvicorn

    from sleuth.catalog import Engine
    from sleuth.server import create_app
    from sleuth.server.guards import AllowedHosts

    engine = Engine(data, default_encoder=encoder)
    if demo and "stdlib" not in engine.names():
        from sleuth.demo import stdlib_items

        items = stdlib_items()
        print(
            f"building the demo collection {data / 'stdlib'}: {len(items)} documentation entries "
            "of the Python standard library (once)",
            file=sys.stderr,
        )
        engine.create("stdlib").add(items, progress=True)
        engine.close()
    if host not in ("127.0.0.1", "localhost", "::1") and not os.environ.get("SLEUTH_API_KEY"):
        print(
            f"warning: binding to {host} without an API key: anyone who can reach this address "
            "can read and change the data. Set SLEUTH_API_KEY to require one.",
            file=sys.stderr,
        )
    hosts = AllowedHosts.for_bind(host, allowed_host or [])
    if ray is not None:
        from sleuth.shards.serve import ServeOptions, run_on_ray

        options = ServeOptions(shards=shards, replicas=replicas)
        address = None if ray == LOCAL else ray
        run_on_ray(
            data,
            options,
            address=address,
            host=host,
            port=port,
            default_encoder=encoder,
            models=models,
            allowed_hosts=hosts,
        )
        return
    served = create_app(engine, models=models, allowed_hosts=hosts)
    # h11 whatever else is installed: every request, one of an unknown method too, reaches the
    # app (its JSON 405, one metrics label); httptools (Ray Serve's uvicorn[standard]) would
    # answer those itself
    config = uvicorn.Config(
        served, host=host, port=port, log_level="warning", access_log=False, http="h11"
    )
    server = uvicorn.Server(config)

    def announce() -> None:  # once bound, so port 0 prints the real port
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.05)
        for listener in server.servers:
            for sock in listener.sockets:
                bound_host, bound_port = sock.getsockname()[:2]
                shown = f"[{bound_host}]" if ":" in bound_host else bound_host
                print(f"sleuth is serving {data} at http://{shown}:{bound_port}/", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    try:
        server.run()
    finally:
        server.should_exit = True  # also ends the announcer when binding failed
