# Two commands on a fresh machine with Python 3.11:
#   make run    set up .venv and run the lab headless (labkit run, default profile)
#   make test   set up .venv and run the checks (ruff, then pytest)
# TORCH pins the torch build installed before labkit: the CPU wheel on a laptop
# without CUDA, the CUDA wheel on Linux with a GPU (pip picks). Override it with
# e.g. `make run TORCH=torch` to keep whatever pip chooses.

PYTHON  ?= python3
VENV    ?= .venv
TORCH   ?= torch==2.13.0
PROFILE ?= default
BIN      = $(VENV)/bin

.PHONY: run test lint notebooks clean

$(BIN)/labkit: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

run: $(BIN)/labkit
	$(BIN)/labkit run --profile $(PROFILE)

lint: $(BIN)/labkit
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) runs
