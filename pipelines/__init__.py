"""ZenML pipelines: small compositions of the steps in ``steps/``."""
