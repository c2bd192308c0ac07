"""A fleet: one model per tenant, by the one fleet pipeline.

``tenants`` resolves who is in the fleet (config, file or data) and each
tenant's keys, paths and overrides; ``data`` reads and validates every
tenant's raw batches (a bad batch quarantines that tenant only);
``features`` computes the fleet's features in one vectorised pass and
retrieves them from one Feast project with the tenant in every entity key;
``work`` is the per-tenant fit / evaluate / gate that runs in a process
pool; ``monitor`` the per-tenant window assessment; ``report`` the fleet
table and HTML; ``progress`` the stderr progress bar. The Model Control
Plane side lives in ``runway.governance.fleet_registry``.
"""
