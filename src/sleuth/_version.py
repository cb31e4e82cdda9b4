"""The version string, in a module of its own: manifests and the server read it without
importing the package root (which imports everything)."""

__version__ = "0.1.0"
