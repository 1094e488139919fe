"""Syncline: the composition root (configuration, database, CLI, process wiring)."""

__version__ = "0.1.0"
