"""Typed, reusable ZenML steps: thin adapters over the ``runway`` library."""
