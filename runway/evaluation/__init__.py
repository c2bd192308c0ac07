"""evaluation: see the README's architecture map."""
