"""Reelvault: a private video organizer."""

__version__ = "0.1.0"
