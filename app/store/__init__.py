"""Persistence: the only package with SQL."""
