"""ZenML's module -> distribution lookup is memoized per process (see
runway.platform.runtime.cache_zenml_package_lookup), with the same answers."""

from __future__ import annotations

from importlib.metadata import packages_distributions


def test_the_package_lookup_is_cached_and_answers_as_before() -> None:
    from zenml.utils import source_utils

    from runway.platform.runtime import cache_zenml_package_lookup

    cache_zenml_package_lookup()
    cache_zenml_package_lookup()  # idempotent: wrapped once
    lookup = source_utils._get_package_for_module
    assert hasattr(lookup, "cache_info") and not hasattr(lookup.__wrapped__, "cache_info")
    dists = packages_distributions()
    for module in ("pandas.core.frame", "sklearn.ensemble", "zenml.client", "no_such_module_here"):
        names = dists.get(module.split(".")[0], [])
        assert lookup(module) == (names[0] if len(names) == 1 else None), module
    before = lookup.cache_info().hits
    lookup("pandas.core.frame")
    assert lookup.cache_info().hits == before + 1  # answered without scanning the distributions again
    # An artifact type resolves to its distribution through the cached lookup.
    import pandas as pd

    assert source_utils.resolve(pd.DataFrame).package_name == "pandas"
