"""Reusable painted widgets and delegates."""
