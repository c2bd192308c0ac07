"""The promotion lock on real MariaDB and PostgreSQL: two processes contend,
their critical sections never overlap."""

from __future__ import annotations

import multiprocessing as mp
import time
import uuid

import pytest

from runway.governance.locks import LockTimeout, sql_lock

pytestmark = [pytest.mark.integration, pytest.mark.services]
HOLD_S = 0.6


def _hold(url: str, name: str, q) -> None:
    with sql_lock(url, name, timeout=20):
        start = time.monotonic()
        time.sleep(HOLD_S)
        q.put((start, time.monotonic()))


def _contend(url: str) -> list[tuple[float, float]]:
    name = f"runway-test-{uuid.uuid4().hex[:12]}"  # own lock name: never collides with another run
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_hold, args=(url, name, q)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    return sorted(q.get(timeout=5) for _ in procs)


@pytest.mark.parametrize("which", ["mysql", "postgres"])
def test_sql_lock_serialises_two_processes(which, request):
    url = request.getfixturevalue(f"{which}_url")
    (a0, a1), (b0, b1) = _contend(url)
    assert b0 >= a1 - 0.01, f"critical sections overlapped: {a0:.2f}-{a1:.2f} and {b0:.2f}-{b1:.2f}"


@pytest.mark.parametrize("which", ["mysql", "postgres"])
def test_sql_lock_times_out_with_a_clear_error(which, request):
    url = request.getfixturevalue(f"{which}_url")
    name = f"runway-test-{uuid.uuid4().hex[:12]}"
    with sql_lock(url, name, timeout=5):
        ctx = mp.get_context("spawn")
        with ctx.Pool(1) as pool:
            err = pool.apply(_try_briefly, (url, name))
    assert err is not None and "could not take SQL lock" in err


def _try_briefly(url: str, name: str) -> str | None:
    try:
        with sql_lock(url, name, timeout=1):
            return None
    except LockTimeout as exc:
        return str(exc)
