"""governance: see the README's architecture map."""
