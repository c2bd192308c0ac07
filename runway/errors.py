"""Turn an exception from deep inside a pipeline into one line a user can act on."""

from __future__ import annotations

# Exceptions whose message already says what is wrong and where.
_SELF_EXPLAINING = (
    "ContractViolation",
    "SourceError",
    "ConfigError",
    "ArtifactIntegrityError",
    "RegistryError",
    "MultipleProductionError",
    "FeatureStoreError",
    "PreflightError",
    "LockTimeout",
    "FeatureInputError",
    "DecisionLogError",
    "DecisionStoreError",
    "StoreError",
    "UnreadableBatch",
    "ApprovalError",
    "PromotionError",
    "LineageError",
    "ReproductionError",
)


def root_cause(exc: BaseException) -> BaseException:
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        if type(exc).__name__ in _SELF_EXPLAINING:
            return exc
        # `raise ... from None` means the new message replaces the old one.
        nxt = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if nxt is None:
            return exc
        exc = nxt
    return exc


def describe(exc: BaseException) -> str:
    root = root_cause(exc)
    name = type(root).__name__
    return str(root) if name in _SELF_EXPLAINING else f"{name}: {root}"
