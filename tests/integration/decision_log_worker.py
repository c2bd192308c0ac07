"""Appends N entries to a SQL decision log, one transaction each (the
concurrency test starts two of these at once). Args: URL TABLE WORKER N."""

from __future__ import annotations

import sys

from runway.governance.decision_log import DecisionLog
from runway.governance.decision_log_sql import SqlStore

KEY = b"k" * 32

if __name__ == "__main__":
    url, table, worker, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    log = DecisionLog(SqlStore(url, table), KEY)
    for i in range(n):
        log.append({"model": f"m-{worker}", "version": str(i), "action": "promote", "reason": f"worker {worker} entry {i}"})
