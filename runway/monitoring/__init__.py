"""monitoring: see the README's architecture map."""
