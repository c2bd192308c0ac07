"""modeling: see the README's architecture map."""
