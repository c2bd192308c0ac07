"""Runway: the generic core (see the README's architecture map)."""
