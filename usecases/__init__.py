"""Use cases: each a YAML in configs/use_cases plus, where needed, a small module here."""
