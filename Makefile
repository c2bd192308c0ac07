# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make run    -> creates .venv, installs pinned deps, runs `python run.py`
#   make test   -> same set-up (+ checkov in .venv-tools), runs the test suite
PYTHON ?= python3.11
VENV   := .venv
TOOLS  := .venv-tools
export ZENML_ANALYTICS_OPT_IN := false

.PHONY: run test setup tools lock clean
setup: $(VENV)/.installed
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

# checkov pins conflict with ZenML's, so it lives in its own venv.
tools: $(TOOLS)/.installed
$(TOOLS)/.installed: requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --upgrade pip
	$(TOOLS)/bin/pip install --quiet -r requirements-tools.txt
	touch $@

run: setup
	$(VENV)/bin/python run.py $(ARGS)

test: setup tools
	RUNWAY_CHECKOV=$(CURDIR)/$(TOOLS)/bin/checkov $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lock:
	$(PYTHON) -m venv /tmp/runway-lock && /tmp/runway-lock/bin/pip install -q -r requirements.in && /tmp/runway-lock/bin/pip freeze > requirements.txt

clean:
	rm -rf .runway feature_repo/data compiled
