"""Write the OpenAPI document to ``docs/openapi.json``: ``python -m sleuth.server.openapi [PATH]``.

The document is that of a server with an API key, so it shows the bearer scheme.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from sleuth.catalog import Engine
from sleuth.server.app import create_app


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/openapi.json")
    with tempfile.TemporaryDirectory() as data:
        document = create_app(Engine(data), api_key="documented").openapi()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
