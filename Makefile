# The two commands of the README: `make train` and `make test`.
# Both create the virtual environment on first use and reinstall when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: train test setup ui

setup: $(INSTALLED)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(INSTALLED)

# Extra Hydra overrides: make train ARGS="model.hidden_size=64 optimizer.lr=0.05"
train: $(INSTALLED)
	$(VENV)/bin/seqlab train $(ARGS)

# The formatter and linter (ruff, configured in pyproject.toml), then the suite.
# Extra pytest arguments: make test ARGS="-m 'not slow'"
test: $(INSTALLED)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(ARGS)

# The MLflow UI on the embedded store: http://127.0.0.1:5000
ui: $(INSTALLED)
	$(VENV)/bin/seqlab ui
