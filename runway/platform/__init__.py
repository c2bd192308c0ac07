"""platform: see the README's architecture map."""
