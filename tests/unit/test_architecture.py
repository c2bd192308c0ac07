"""The import direction and the generic core, enforced.

run.py -> pipelines -> steps -> runway, usecases -> runway; nothing in runway/
imports steps/, pipelines/, run or a use case (plug-ins are loaded by the
name their YAML gives, at run time). The core names no use-case column.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from runway.config import CONFIG_DIR, PROJECT_ROOT

pytestmark = pytest.mark.unit

FORBIDDEN = {
    "runway": {"steps", "pipelines", "usecases", "run", "tests"},
    "steps": {"pipelines", "usecases", "run", "tests"},
    "pipelines": {"usecases", "run", "tests"},
    "usecases": {"steps", "pipelines", "run", "tests"},
}
FIXTURE = Path(__file__).parent / "fixtures" / "bad_imports"


def imported_tops(path: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in the file, at any depth."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module.split(".")[0]))
    return out


def violations(root: Path, package: str) -> list[str]:
    found = []
    for path in sorted((root / package).rglob("*.py")):
        for line, top in imported_tops(path):
            if top in FORBIDDEN[package]:
                found.append(f"{path.relative_to(root)}:{line} imports {top}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_import_direction(package: str) -> None:
    assert violations(PROJECT_ROOT, package) == []


def test_the_checker_catches_a_deliberate_bad_import() -> None:
    assert violations(FIXTURE, "runway") == ["runway/monitoring/sneaky.py:5 imports pipelines"]


def _use_case_columns() -> set[str]:
    cols: set[str] = set()
    for path in (CONFIG_DIR / "use_cases").glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        cols |= set(data["contract"]["columns"])
        cols.add(data["model"]["target"])
    # Words too generic to be a use case's own (every dataset has a date).
    return cols - {"date", "region"}


CORE = [p for d in ("runway", "steps", "pipelines", "feature_repo") for p in (PROJECT_ROOT / d).rglob("*.py")]


def test_no_core_module_names_a_use_case_column() -> None:
    cols = _use_case_columns()
    assert {"units_sold", "store_id"} <= cols
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, cols))) + r")\b")
    hits = []
    for path in CORE:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = pattern.search(line)
            if m:
                hits.append(f"{path.relative_to(PROJECT_ROOT)}:{n}: {m.group(1)}")
    assert hits == [], "core modules must take column names from the use case's config:\n" + "\n".join(hits[:40])
