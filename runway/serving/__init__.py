"""serving: see the README's architecture map."""
