"""The HTTP server: ``create_app(engine)`` builds the FastAPI app; ``sleuth serve`` runs it."""

from sleuth.server.app import Limits, create_app

__all__ = ["Limits", "create_app"]
