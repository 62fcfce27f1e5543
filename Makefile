# The two commands of the README: `make train` and `make test`.
# Both create the virtual environment on first use and reinstall when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: train test setup

setup: $(INSTALLED)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(INSTALLED)

# Extra Hydra overrides: make train ARGS="model.hidden_size=64 optimizer.lr=0.05"
train: $(INSTALLED)
	$(PY) -m src.experiments.train $(ARGS)

# Extra pytest arguments: make test ARGS="-m 'not slow'"
test: $(INSTALLED)
	$(PY) -m pytest $(ARGS)
