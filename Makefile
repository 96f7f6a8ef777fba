# Two commands on a fresh machine with Python 3.11:
#   make run    set up .venv and run the lab headless (labkit run, default profile)
#   make test   set up .venv (and the book's .book-venv) and run the checks (ruff, then pytest)
# and one for the course book:
#   make book   execute every notebook in PROFILE (cached: a second build executes nothing
#               that has not changed) and build the HTML site into book/_build/html/
#               (Jupyter Book 1.0.x, in its own venv .book-venv from book/requirements.txt)
# TORCH pins the torch release installed before labkit. PyPI's build of it is the CPU one on
# macOS and Windows and the CUDA one on Linux, GPU or not (a few GB); TORCH_INDEX names another
# index for it, e.g. `make run TORCH_INDEX=https://download.pytorch.org/whl/cpu` for the CPU
# build on Linux. `make run TORCH=torch` keeps whatever pip chooses.

PYTHON  ?= python3
VENV    ?= .venv
TORCH   ?= torch==2.13.0
TORCH_INDEX ?=
PROFILE ?= default
BIN      = $(VENV)/bin
BOOK_VENV ?= .book-venv

.PHONY: run test lint notebooks book clean

$(BIN)/labkit: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# jupyter-book 1.0.x pins an older markdown-it-py than labkit's env: it gets a venv of its own.
$(BOOK_VENV)/bin/jupyter-book: book/requirements.txt
	$(PYTHON) -m venv $(BOOK_VENV)
	$(BOOK_VENV)/bin/pip install --quiet -r book/requirements.txt
	touch $@

run: $(BIN)/labkit
	$(BIN)/labkit run --profile $(PROFILE)

lint: $(BIN)/labkit
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

book: $(BIN)/labkit $(BOOK_VENV)/bin/jupyter-book
	LABKIT_JUPYTER_BOOK=$(BOOK_VENV)/bin/jupyter-book $(BIN)/python -m labkit.course.book --profile $(PROFILE)

test: lint $(BOOK_VENV)/bin/jupyter-book
	LABKIT_JUPYTER_BOOK=$(BOOK_VENV)/bin/jupyter-book $(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(BOOK_VENV) runs book/_build
