# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make run    -> creates .venv, installs the hash-checked locks, runs `python run.py`
#   make test   -> same set-up (+ checkov in .venv-tools), then ruff, mypy
#                  and the test suite (the import layering is a test:
#                  tests/unit/test_architecture.py)
#   make lint   -> ruff and mypy only
# Locks (all with hashes, installed with --require-hashes):
#   requirements.txt       runtime  (from requirements.in; also infra/Dockerfile)
#   requirements-dev.txt   dev/test (from requirements-dev.in; layered on requirements.txt)
#   requirements-tools.txt checkov  (from requirements-tools.in; own venv)
# `make lock` regenerates them keeping every existing pin (after editing a
# direct pin in a .in file, and in pyproject.toml, run it to re-lock);
# `make lock-upgrade PKG=name` moves one transitive package to its newest
# version that the direct pins allow.
PYTHON ?= python3.11
VENV   := .venv
TOOLS  := .venv-tools
export ZENML_ANALYTICS_OPT_IN := false

.PHONY: run staging test lint setup tools lock lock-upgrade clean

# A new venv's bundled pip is replaced first by the hash-checked pip of
# requirements.txt (the bundled one of Python 3.11 mishandles extras under
# --require-hashes). This prints the `pip==...` entry with its hashes.
PIP_ENTRY := awk '/^pip==/{p=1;print;next} p&&/^ +--hash/{print;next} {p=0}' requirements.txt

# Then both locks in one pip call, then the project itself, editable (puts the
# `runway` command on PATH): setuptools comes from the lock, so no build
# isolation and no download.
setup: $(VENV)/.installed
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP_ENTRY) > $(VENV)/pip-lock.txt
	$(VENV)/bin/python -m pip install --quiet --require-hashes --no-deps -r $(VENV)/pip-lock.txt
	$(VENV)/bin/python -m pip install --quiet --require-hashes -r requirements.txt -r requirements-dev.txt
	PYTHONWARNINGS="ignore:Editable installation" $(VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# checkov pins conflict with ZenML's, so it lives in its own venv.
tools: $(TOOLS)/.installed
$(TOOLS)/.installed: requirements-tools.txt requirements.txt
	$(PYTHON) -m venv $(TOOLS)
	$(PIP_ENTRY) > $(TOOLS)/pip-lock.txt
	$(TOOLS)/bin/python -m pip install --quiet --require-hashes --no-deps -r $(TOOLS)/pip-lock.txt
	$(TOOLS)/bin/python -m pip install --quiet --require-hashes -r requirements-tools.txt
	touch $@

run: setup
	$(VENV)/bin/python run.py $(ARGS)

# The whole loop on staging's services: every URL from the environment
# (README "Staging on real services"); a missing one fails in one line that
# names it. With RUNWAY_ZENML_STORE_URL, run.py starts and stops the ZenML server.
staging: setup
	$(VENV)/bin/python run.py --env staging $(ARGS)

# Each linter runs even when the one before it failed; the target fails if any did.
LINT = status=0; \
	echo "== ruff check ."; $(VENV)/bin/ruff check . || status=1; \
	echo "== mypy runway"; $(VENV)/bin/mypy runway || status=1

lint: setup
	@$(LINT); exit $$status

# Lint and tests both always run (so CI shows the test results even when a
# linter complains); the recipe exits non-zero if any of them failed, with
# pytest's own exit code when pytest failed (so 5, no tests collected, fails
# too); make itself then exits 2.
# One pytest process keeps about one core busy (the pipelines are mostly
# single-threaded Python), so the suite runs on PYTEST_WORKERS processes
# (pytest-xdist; each has its own ZenML config folder). PYTEST_WORKERS=0 runs
# it in one process. `--dist loadscope` keeps a module's tests on one worker:
# a module-scoped fixture (a whole fleet or loop run) is built once, and tests
# that read what an earlier test of their module did (a retrain, then a
# rollback to it) see it.
PYTEST_WORKERS ?= 2
test: setup tools
	@$(LINT); \
	echo "== pytest"; RUNWAY_CHECKOV=$(CURDIR)/$(TOOLS)/bin/checkov $(VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope $(PYTEST_ARGS) || status=$$?; \
	exit $$status

# pip-tools in a throwaway venv. LOCK_ENV makes hashes come from the package
# index alone (not from this machine's pip config); override it if your pip
# needs its config to reach the index.
LOCKER   := /tmp/runway-lock
LOCK_ENV ?= PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS=
COMPILE   = $(LOCK_ENV) $(LOCKER)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
$(LOCKER)/bin/pip-compile:
	$(PYTHON) -m venv $(LOCKER)
	$(LOCKER)/bin/pip install --quiet pip-tools==7.6.2

lock: $(LOCKER)/bin/pip-compile
	$(COMPILE) -o requirements.txt requirements.in
	$(COMPILE) -o requirements-dev.txt requirements-dev.in
	$(COMPILE) -o requirements-tools.txt requirements-tools.in

lock-upgrade: $(LOCKER)/bin/pip-compile
	@test -n "$(PKG)" || { echo "usage: make lock-upgrade PKG=name"; exit 2; }
	$(COMPILE) -P $(PKG) -o requirements.txt requirements.in
	$(COMPILE) -P $(PKG) -o requirements-dev.txt requirements-dev.in
	$(COMPILE) -P $(PKG) -o requirements-tools.txt requirements-tools.in

clean:
	rm -rf .runway feature_repo/data compiled build dist *.egg-info
