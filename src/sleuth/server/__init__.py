"""The HTTP server: ``create_app(engine)`` builds the FastAPI app; ``sleuth serve`` runs it."""

from sleuth.server.app import Limits, create_app
from sleuth.server.guards import AllowedHosts

__all__ = ["AllowedHosts", "Limits", "create_app"]
