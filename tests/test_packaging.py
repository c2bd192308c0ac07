"""Packaging: the project builds into a wheel with every package and the
`runway` console script, and its dependency declarations agree with the
hash-checked locks. Offline and fast: the wheel is built with the venv's own
setuptools (--no-build-isolation --no-index) from a copy of the sources, so
the work tree gets no build/ or *.egg-info."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.contract

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("runway", "steps", "pipelines", "usecases")
# In the .in files for installing, not for the project's metadata.
INSTALLER_ONLY = {"pip", "setuptools"}


def _name(req: str) -> str:
    """Normalised project name of a requirement line (PEP 503)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\[=<>!~; ]", req.strip(), maxsplit=1)[0]).lower()


def _normalise(req: str) -> str:
    name, _, rest = req.strip().partition("==")
    base, bracket, extras = name.partition("[")
    return _name(base) + (bracket + extras if bracket else "") + "==" + rest.strip()


def _in_file(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def _lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a pip-compile --generate-hashes lock."""
    text = path.read_text().replace("\\\n", " ")
    out: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req, *opts = line.split()
        name, _, version = req.partition("==")
        out[_name(name)] = (version, [o.removeprefix("--hash=") for o in opts if o.startswith("--hash=sha256:")])
    return out


def _source_modules() -> set[str]:
    """Every .py file of the packages (and run.py), as paths inside a wheel."""
    files = {"run.py"}
    for pkg in PACKAGES:
        files |= {p.relative_to(ROOT).as_posix() for p in (ROOT / pkg).rglob("*.py") if "__pycache__" not in p.parts}
    return files


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "run.py"):
        shutil.copy2(ROOT / name, src / name)
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(out), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheels = list(out.glob("runway-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as zf:
        yield zf


def test_wheel_has_every_package_module_and_run(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    missing = sorted(_source_modules() - names)
    assert not missing, f"modules left out of the wheel: {missing}"
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "feature_repo/", "infra/"))]


def test_wheel_declares_the_console_script(wheel: zipfile.ZipFile) -> None:
    entry = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
    ep = configparser.ConfigParser()
    ep.read_string(wheel.read(entry).decode())
    assert ep["console_scripts"]["runway"].strip() == "run:main"


def test_wheel_metadata_has_the_pinned_dependencies(wheel: zipfile.ZipFile) -> None:
    meta = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    requires = [line.removeprefix("Requires-Dist:").strip() for line in wheel.read(meta).decode().splitlines() if line.startswith("Requires-Dist:")]
    runtime = {_name(r) for r in requires if "extra ==" not in r}
    assert {"zenml", "feast", "whylogs", "scikit-learn", "pandas", "kfp", "kubernetes"} <= runtime
    assert not {"pytest", "ruff", "mypy", "hypothesis"} & runtime


def test_console_script_target_is_an_entry_point() -> None:
    import run

    assert callable(run.main)
    with pytest.raises(SystemExit) as exc:
        run.main(["--help"])
    assert exc.value.code == 0


def test_pyproject_pins_match_the_in_files() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime_in = {_normalise(r) for r in _in_file(ROOT / "requirements.in") if _name(r) not in INSTALLER_ONLY}
    dev_in = {_normalise(r) for r in _in_file(ROOT / "requirements-dev.in") if _name(r) not in INSTALLER_ONLY}
    assert {_normalise(r) for r in project["dependencies"]} == runtime_in
    assert {_normalise(r) for r in project["optional-dependencies"]["dev"]} == dev_in


LOCKS = [("requirements.in", "requirements.txt"), ("requirements-dev.in", "requirements-dev.txt"), ("requirements-tools.in", "requirements-tools.txt")]


@pytest.mark.parametrize(("in_file", "lock_file"), LOCKS)
def test_locks_pin_every_direct_requirement_with_hashes(in_file: str, lock_file: str) -> None:
    lock = _lock(ROOT / lock_file)
    assert lock, f"{lock_file} is empty"
    unhashed = sorted(name for name, (version, hashes) in lock.items() if not version or not hashes)
    assert not unhashed, f"{lock_file}: entries without an exact pin and hashes: {unhashed}"
    for req in _in_file(ROOT / in_file):
        name, version = _name(req), req.partition("==")[2].strip()
        assert name in lock, f"{name} ({in_file}) is not in {lock_file}: run `make lock`"
        assert lock[name][0] == version, f"{name}: {in_file} pins {version}, {lock_file} has {lock[name][0]}: run `make lock`"


def test_dev_lock_agrees_with_the_runtime_lock() -> None:
    runtime, dev = _lock(ROOT / "requirements.txt"), _lock(ROOT / "requirements-dev.txt")
    clash = {name: (runtime[name][0], dev[name][0]) for name in runtime.keys() & dev.keys() if runtime[name][0] != dev[name][0]}
    assert not clash, f"packages pinned differently in the two locks (they are installed together): {clash}"
