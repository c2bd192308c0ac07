"""data: see the README's architecture map."""
