"""Helpers around finished pipeline runs."""

from __future__ import annotations

import re

from zenml.client import Client
from zenml.enums import ExecutionStatus

_EXC_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Violation|Timeout)\b.*?:")


def failed_step_message(pipeline_name: str) -> str | None:
    """The failing step's own error line from the latest run of ``pipeline_name``.

    ZenML raises a generic "Pipeline run has failed" to the caller; the
    step's exception (which names the column, file or value) is on the step run.
    """
    try:
        runs = Client().list_pipeline_runs(pipeline_name=pipeline_name, sort_by="desc:created", size=1, hydrate=True)
    except Exception:  # noqa: BLE001 - best effort, the caller still has an error
        return None
    if not runs.items:
        return None
    for name, step in runs.items[0].steps.items():
        if step.status == ExecutionStatus.FAILED and step.exception_info:
            lines = step.exception_info.traceback.rstrip().splitlines()
            # The exception line is the last unindented "pkg.Class: message";
            # a multi-line message (a contract report) continues below it.
            start = max((i for i, ln in enumerate(lines) if _EXC_LINE.match(ln)), default=len(lines) - 1)
            cls, _, msg = "\n".join(lines[start:]).partition(": ")
            return f"step '{name}' failed: {msg or cls}"
    return None
