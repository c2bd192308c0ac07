"""features: see the README's architecture map."""
